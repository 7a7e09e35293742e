"""How far a paced budget's calibrations are from a careful timing of the same computations.

A `paced:S` budget gives each computation S / (its step seconds) steps, from one timing of 30
steps (bench/quality_pace.py) taken when the study first met that computation, under whatever
load the machine had then. This script times the same computations again in one process,
round-robin (REPEATS rounds of BLOCK steps each, so a change of load hits every computation
alike), and sets the fastest block of each (noise only adds time) beside its stored
calibration, with the steps each would give under the budget:

    .venv/bin/python bench/quality_retime.py --corpus wikitext-2 --seconds 150 \
        --results bench/results/quality-paced150-cpu.json \
        --cases lightrnn:tie+k2000+cooc,lightrnn:tie+cov0.8+cooc,adaptive:plain,full:tie

Results go to bench/results/retime-cpu.json, one entry per corpus (a rerun replaces it).

`--apply` writes the careful timings back into the results file as calibrations anchored at the
first case: every other case gets the first case's stored step seconds times the ratio of their
fastest blocks, so the first case's rows stay valid and each other computation, rerun with
`quality.py --append`, trains the steps that are fair against it (the old value is kept under
`retimed`; `quality.py --merge` prefers such a calibration to an unretimed one). A new study
is calibrated the same way before any row trains: `quality.py --budgets '' --out FILE` writes it
empty, and `--apply` gives every case, the first one included, its own fastest block.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/quality_retime.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from bench import common, quality, quality_pace
from bench.common import budget_clock
from bench.quality_run import Size, Variant, resolved, variant_name
from lightrnn.train import Trainer


def fair_seconds(anchor: dict[str, Any], case: dict[str, Any]) -> float:
    """`case`'s step seconds fair against the anchor's calibration: the anchor's stored
    timing scaled by the ratio of their fastest blocks. An anchor never calibrated (a new
    study's first timing) is calibrated at its fastest block, so every case gets its own."""
    return (anchor["stored_s"] or anchor["min_s"]) * case["min_s"] / anchor["min_s"]


def trainer_for(corpus: dict[str, Any], model: str, variant: Variant, size: Size) -> Trainer:
    """The case's model as the study builds it, warmed up, ready to be timed."""
    trainer = quality_pace.timing_trainer(corpus, model, variant, size, max_steps=10_000_000)
    trainer.run(until_step=quality_pace.WARMUP)
    return trainer


def retime(
    corpus: dict[str, Any],
    name: str,
    cases: list[tuple[str, Variant]],
    size: Size,
    calibration: dict[str, Any],
    seconds: float,
    block: int,
    repeats: int,
) -> list[dict[str, Any]]:
    """Each case's step seconds, its fastest and median block, interleaved, beside the stored
    calibration of the same computation and the steps each gives under `seconds`."""
    threads = torch.get_num_threads()
    trainers, keys = [], []
    for model, variant in cases:
        sized = resolved(variant, corpus["train"], corpus["vocab"])
        sized = replace(sized, hidden=sized.hidden or size.hidden)
        trainers.append(trainer_for(corpus, model, sized, size))
        known = quality_pace.known_key(calibration, name, model, sized, size, threads)
        keys.append(known or quality_pace.step_key(name, model, sized, size, threads))
    clock = budget_clock(size.device)
    blocks: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for k, trainer in enumerate(trainers):
            start = clock()
            trainer.run(until_step=trainer.state.step + block)
            blocks[k].append((clock() - start) / block)
    out = []
    for (model, variant), key, times in zip(cases, keys, blocks, strict=True):
        rounds = (variant.rounds or size.rounds) if model.startswith("lightrnn") else 1
        stored = calibration[key]["step_seconds"] if key in calibration else None
        fastest = min(times)
        paced = quality_pace.paced_steps(seconds, stored, rounds) if stored else None
        out.append(
            {
                "model": model,
                "variant": variant_name(variant, baseline=not model.startswith("lightrnn")),
                "step_key": key,
                "calibrated": key in calibration,
                "min_s": fastest,
                "median_s": statistics.median(times),
                "stored_s": stored,
                "stored_over_min": stored / fastest if stored else None,
                "steps_stored": paced,
                "steps_min": quality_pace.paced_steps(seconds, fastest, rounds),
                "rounds": rounds,
            }
        )
    anchor = out[0]
    for c in out:  # the steps fair against the first case's calibration, rescaled
        fair = fair_seconds(anchor, c)  # (a study's first timing: its fastest blocks)
        c["steps_fair"] = quality_pace.paced_steps(seconds, fair, c["rounds"])
    return out


def apply(results: Path, cases: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """Anchor the other cases' calibrations in `results` at the first case's (see above)."""
    study = json.loads(results.read_text())
    anchor = cases[0]
    first = cases if anchor["stored_s"] is None else cases[1:]  # a new study: the anchor too
    for case in first:  # a computation not yet calibrated gets its first calibration here
        key = case["step_key"]
        old = study["calibration"].get(key, {})
        study["calibration"][key] = {
            "step_seconds": fair_seconds(anchor, case),
            "retimed": {
                "from": old.get("retimed", {}).get("from", old.get("step_seconds")),
                "anchor": anchor["step_key"],
                "fastest_s": case["min_s"],
                "anchor_fastest_s": anchor["min_s"],
                "command": command,
            },
        }
    common.write_json(results, study)
    return study


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    lines = []
    for corpus, run in sorted(runs.items()):
        first = run["cases"][0]["min_s"]
        for c in run["cases"]:
            lines.append(
                [
                    corpus,
                    c["model"],
                    c["variant"],
                    f"{c['min_s'] * 1e3:.1f}",
                    f"{c['median_s'] * 1e3:.1f}",
                    f"{c['min_s'] / first:.2f}",
                    common.fmt(None if c["stored_s"] is None else c["stored_s"] * 1e3, ".1f"),
                    common.fmt(c["stored_over_min"], ".2f"),
                    common.fmt(c["steps_stored"], ",.0f"),
                    common.fmt(c.get("steps_fair"), ",.0f"),
                    f"{c['steps_min']:,}",
                ]
            )
    headers = ["corpus", "model", "variant", "fastest ms", "median ms", "to the first"]
    headers += ["stored ms", "stored / fastest", "paced steps", "fair steps", "steps (fastest)"]
    return common.markdown_table(headers, lines, "lllrrrrrrrr")


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """Named figures for the docs (bench/docs_numbers.py): per corpus and case
    `CORPUS/MODEL/VARIANT/{fastest_ms,stored_ms,stored_over_min,to_first,steps_stored,steps_min,
    steps_fair,fair_share}` (`to_first`: its fastest block against the first case's;
    `steps_fair`: the steps fair against the first case's calibration, `fair_share` the paced
    steps over those), and per corpus
    `CORPUS/stored_over_min_{min,max}` over its cases."""
    out: dict[str, str] = {}
    for corpus, run in saved["runs"].items():
        first, ratios = run["cases"][0]["min_s"], []
        for c in run["cases"]:
            key = f"{corpus}/{c['model']}/{c['variant']}"
            out[f"{key}/fastest_ms"] = f"{c['min_s'] * 1e3:.1f}"
            out[f"{key}/to_first"] = f"{c['min_s'] / first:.2f}"
            out[f"{key}/steps_min"] = f"{c['steps_min']:,}"
            if c["stored_s"]:
                out[f"{key}/stored_ms"] = f"{c['stored_s'] * 1e3:.1f}"
                out[f"{key}/stored_over_min"] = f"{c['stored_over_min']:.2f}"
                out[f"{key}/steps_stored"] = f"{c['steps_stored']:,}"
                ratios.append(c["stored_over_min"])
            if c.get("steps_fair"):
                out[f"{key}/steps_fair"] = f"{c['steps_fair']:,}"
            if c.get("steps_fair") and c["steps_stored"]:
                out[f"{key}/fair_share"] = f"{c['steps_stored'] / c['steps_fair']:.0%}"
        if ratios:
            out[f"{corpus}/stored_over_min_min"] = f"{min(ratios):.2f}"
            out[f"{corpus}/stored_over_min_max"] = f"{max(ratios):.2f}"
    return out


def parse_cases(text: str) -> list[tuple[str, Variant]]:
    cases = []
    for part in filter(None, text.split(",")):
        model, _, variant = part.partition(":")
        if model not in quality.MODELS or not variant:
            raise SystemExit(f"case {part!r}: write MODEL:VARIANT, MODEL one of {quality.MODELS}")
        cases.append((model, Variant.parse(variant)))
    return cases


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", choices=sorted(quality.CORPORA), required=True)
    p.add_argument("--results", type=Path, required=True, help="the study's results file")
    p.add_argument("--cases", required=True, help="MODEL:VARIANT, comma-separated")
    p.add_argument("--seconds", type=float, required=True, help="the paced budget's seconds")
    p.add_argument("--block", type=int, default=30, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=5, help="blocks per case, round-robin")
    p.add_argument("--data-root", default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--out", type=Path, default=common.ROOT / "bench/results/retime-cpu.json")
    p.add_argument(
        "--apply",
        action="store_true",
        help="write the timings into --results as calibrations anchored at the first case",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as the study's calibrations ran
    study = json.loads(args.results.read_text())
    size = Size(**(study["size"] | {"device": "cpu"}))
    source = quality.corpus_dir(args.corpus, args.data_root)
    if source is None:
        raise SystemExit(f"no {args.corpus} corpus found (pass --data-root)")
    with tempfile.TemporaryDirectory(prefix="lightrnn-retime-", dir=args.work_dir) as work:
        corpus = quality.load(quality.tokenize(args.corpus, source, Path(work))[0])
        cases = retime(
            corpus,
            args.corpus,
            parse_cases(args.cases),
            size,
            study.get("calibration", {}),
            args.seconds,
            args.block,
            args.repeats,
        )
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    saved["runs"][args.corpus] = {
        "cases": cases,
        "results": str(args.results),
        "seconds": args.seconds,
        "block": args.block,
        "repeats": args.repeats,
        "provenance": common.environment(torch.device("cpu"))
        | {"command": common.command_line("quality_retime.py", argv), "cpu": common.cpu_name()},
    }
    saved["markdown"] = markdown(saved["runs"])
    common.write_json(args.out, saved)
    if args.apply:
        apply(args.results, cases, saved["runs"][args.corpus]["provenance"]["command"])
    print(saved["markdown"])
    return saved


if __name__ == "__main__":
    main()
