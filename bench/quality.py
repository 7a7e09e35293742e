"""Quality on real text at equal cost: LightRNN against the full and the adaptive softmax.

Every model runs in this process on the same tokenized corpus (PTB and WikiText-2 from
../shared/data; WikiText-2 falls back to the copy bundled in data/) and is evaluated the same way
(whole validation and test splits). Seconds are the process's CPU seconds on the CPU (run with
`--threads 1`: a dedicated core's wall clock, unmoved by other jobs), wall seconds on a GPU.
Budgets (`--budgets`, bench/quality_run.py):

    steps:N            the same number of training steps
    paced:SECONDS      the same training seconds, deterministically: each model trains
                       SECONDS / (its step time, measured alone once) steps (quality_pace.py;
                       bench/quality_retime.py checks those timings); with `--pace-as VARIANT`
                       LightRNN variants train that variant's steps (an ablation at equal steps)
    time:SECONDS       the same training seconds (LightRNN's reallocations count against them)
    convergence:CAP    until validation stops improving (lr decay, early stopping), capped
    params:<budget>    LightRNN enlarged to the full softmax's parameter count, under <budget>

Models: `lightrnn` (the bootstrap: `--rounds` rounds, reallocating between them),
`lightrnn-random` (the control: the same rounds on its random table), `full`, `adaptive`.
LightRNN's options are variants (`--variants tie+k2000,plain`: weight tying, a K-word shortlist,
the assignment method, a cost sample, a hidden size). `--seeds 0,1,2` repeats every row;
`--append` keeps the rows of the output file that this run does not redo, so a study is built
from several commands. Writes bench/results/quality-<device>.json ({"results": [...], "markdown",
"targets"}) and two plots beside it (named after the output file): test perplexity against
parameters with the Pareto front, and validation perplexity against training seconds.

    .venv/bin/python bench/quality.py --corpora wikitext-2 --budgets time:900 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python bench/quality.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common, quality_pace, quality_report
from bench.common import ROOT
from bench.quality_run import (
    MODELS,
    Budget,
    Size,
    Variant,
    hidden_for,
    resolved,
    run,
    variant_name,
)
from lightrnn.corpus import CorpusConfig, find_splits, load_corpus, open_split, prepare
from lightrnn.train import resolve_device

SHARED = ROOT.parent / "shared" / "data"
GCIDE = [ROOT / ".lightrnn" / "gcide"]  # made by bench/gcide.py (not committed)
CORPORA = {  # name -> directories to try, first found wins
    "ptb": [SHARED / "ptb", ROOT / ".lightrnn" / "data" / "ptb"],
    "wikitext-2": [SHARED / "wikitext-2", ROOT / "data" / "wikitext-2"],
    "gcide": GCIDE,
    "gcide-2": GCIDE,  # the same text with more of its words (MIN_COUNT)
    "gcide-1": GCIDE,
}
MIN_COUNT = {"gcide": 3, "gcide-2": 2, "gcide-1": 1}  # words seen fewer times become <unk>
# gcide-1 keeps every training word, so `<unk>` never occurs in training and no model can learn
# it: there validation and test score the other targets only (each row says `scored`)
IN_VOCAB = {"gcide-1"}
KEY = ("corpus", "budget", "model", "variant", "seed")


def corpus_dir(name: str, data_root: str | None) -> Path | None:
    """Where the corpus's train/valid/test files are: --data-root/NAME, else the defaults."""
    candidates = [Path(data_root) / name] if data_root else CORPORA[name]
    return next((d for d in candidates if d.is_dir()), None)


def tokenize(name: str, source: Path, work: Path) -> tuple[str, dict[str, Any]]:
    """Tokenize the corpus into work/NAME (whitespace + <eos> per line; every word kept but
    on GCIDE, `MIN_COUNT`; GCIDE's cp1252 bytes replaced)."""
    root = str(work / name)
    cfg = CorpusConfig(workers=1, min_count=MIN_COUNT.get(name, 1), encoding_errors="replace")
    prepared = prepare(find_splits(str(source)), root, cfg)
    info = {
        "source": str(source),
        "vocab_size": len(prepared.vocab),
        "tokens": {split: info.tokens for split, info in prepared.splits.items()},
    }
    return root, info


def load(root: str, in_vocab: bool = False) -> dict[str, Any]:
    """The three splits as token streams, the vocabulary size and the target id evaluation
    does not score (`<unk>` where `in_vocab`, else None)."""
    splits = {split: open_split(root, split) for split in ("train", "valid", "test")}
    vocab = load_corpus(root).vocab
    return {**splits, "vocab": len(vocab), "skip": vocab.unk_id if in_vocab else None}


def previous(path: str, append: bool, what: str = "results") -> Any:
    """With --append, the rows (or the calibrations) already in the output file."""
    empty: Any = [] if what == "results" else {}
    if not append or not Path(path).is_file():
        return empty
    return json.loads(Path(path).read_text()).get(what, empty)


@functools.cache
def code_version() -> str | None:
    """The commit this process's code came from, read once at the start: a study runs for
    hours, and the checkout may move on meanwhile."""
    return common.git_commit()


def provenance(argv: list[str] | None, device: torch.device) -> dict[str, Any]:
    """What a row was measured with: code version, command, threads, torch, processor, load."""
    env = common.environment(device)
    env["git_commit"] = code_version()
    return {
        "commit": env["git_commit"],
        "command": common.command_line("quality.py", argv),
        "threads": env["torch_threads"],
        "torch": env["torch"],
        "cpu": common.cpu_name(),
        "device": env["device_name"],
        "load_average_1m": env["load_average_1m"],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),  # which row is newer
    }


def put_row(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Add `row` last, replacing the row of the same corpus, budget, model, variant and seed."""
    rows[:] = [r for r in rows if any(r[k] != row[k] for k in KEY)]
    rows.append(row)


def merge_row(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """`put_row`, unless `rows` holds a newer row of the same key: one finished later, or one
    that says when it finished where `row` does not (made before rows said so). So a copy of a
    results file taken before a rerun cannot undo the rerun, whatever order files merge in."""
    when = row.get("provenance", {}).get("finished", "")
    for r in rows:
        if all(r[k] == row[k] for k in KEY) and r.get("provenance", {}).get("finished", "") > when:
            return
    put_row(rows, row)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", default="ptb,wikitext-2", help=f"any of {','.join(CORPORA)}")
    p.add_argument(
        "--budgets",
        default="time:600",
        help="steps:N, paced:S, time:S, convergence:S, params:<budget> (comma-separated)",
    )
    p.add_argument("--models", default=",".join(MODELS), help=f"any of {','.join(MODELS)}")
    p.add_argument(
        "--variants",
        default="tie+k2000",
        help="LightRNN options, comma-separated: "
        "plain, or parts joined by + (tie, kN, exact|sparse|greedy, costN, hN, rN rounds)",
    )
    p.add_argument(
        "--baseline-variants",
        default="plain",
        help="the full and adaptive softmax's options, comma-separated: plain, or parts joined "
        "by + (tie: full only; cA_B cutoffs and dX div_value: adaptive only; hN; lrX)",
    )
    p.add_argument(
        "--pace-as",
        default="",
        help="under a paced budget, LightRNN variants train the steps this LightRNN variant's "
        "calibration gives (already in the file): an ablation at the base's steps, not its time",
    )
    p.add_argument("--seeds", default="0")
    p.add_argument(
        "--data-root", default=None, help="a folder holding ptb/, wikitext-2/ and gcide/"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--hidden", type=int, default=200, help="LSTM units (= embedding size)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    p.add_argument("--rounds", type=int, default=2, help="LightRNN rounds (reallocating between)")
    p.add_argument(
        "--eval-every",
        type=int,
        default=500,
        help="steps between validations (time and convergence budgets)",
    )
    p.add_argument(
        "--eval-tokens",
        type=int,
        default=40_000,
        help="validation ids read during training (0: all); the final figures read every id",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--work-dir", default=None, help="where the tokenized corpora go (temp)")
    p.add_argument("--out", default="", help="default bench/results/quality-<device>.json")
    p.add_argument("--append", action="store_true", help="keep the output file's other rows")
    p.add_argument(
        "--merge",
        default="",
        help="result files (comma-separated) whose rows join the output's, e.g. of a study run "
        "in parallel (of two rows of one key, the one finished later stays); with --budgets '' "
        "nothing is trained",
    )
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args(argv)
    args.models = common.names(p, args.models, MODELS, "models")
    args.corpora = common.names(p, args.corpora, list(CORPORA), "corpora")
    args.budgets = [Budget.parse(b) for b in args.budgets.split(",") if b]
    args.variants = [Variant.parse(v) for v in args.variants.split(",") if v]
    args.baseline_variants = [Variant.parse(v) for v in args.baseline_variants.split(",") if v]
    args.seeds = common.sizes(args.seeds)
    args.pace_as = Variant.parse(args.pace_as) if args.pace_as else None
    if args.rounds < 1:
        p.error(f"--rounds {args.rounds}: at least 1")
    return args


def one_row(
    job: tuple,
    calibration: dict[str, dict],
    argv: list[str] | None,
    device: torch.device,
    pace_as: Variant | None = None,
) -> dict[str, Any]:
    """Train and evaluate one (corpus, model, variant, budget, seed); under a paced budget,
    calibrate the model's step time first unless a row of the same computation already did
    (with `pace_as`, a LightRNN row takes that variant's calibration: its steps)."""
    name, corpus, model, variant, budget, size, seed = job
    paced, key, as_base = 0, None, False
    if budget.kind == "paced":  # timed as it will train (a params- budget enlarges LightRNN)
        as_base = pace_as is not None and model.startswith("lightrnn")
        timed = resolved(pace_as, corpus["train"], corpus["vocab"]) if as_base else variant
        sized = replace(timed, hidden=hidden_for(model, timed, budget, size, corpus["vocab"]))
        threads = torch.get_num_threads()
        # the device as it resolved: `--device cpu` and the default `auto` time the same steps
        on_device = replace(size, device=device.type)
        key = quality_pace.step_key(name, model, sized, on_device, threads)
        known = quality_pace.known_key(calibration, name, model, sized, on_device, threads)
        if key not in calibration and known:  # timed under a key written the older way
            calibration[key] = calibration[known]
        if key not in calibration and as_base:
            raise SystemExit(f"--pace-as {variant_name(timed)}: no calibration of it in the file")
        if key not in calibration:
            calibration[key] = quality_pace.measure(corpus, model, sized, size)
        rounds = (variant.rounds or size.rounds) if model.startswith("lightrnn") else 1
        paced = quality_pace.paced_steps(budget.amount, calibration[key]["step_seconds"], rounds)
    common.reset_peak_memory(device)
    row = {"corpus": name, "budget": budget.name}
    row |= run(corpus, model, variant, budget, size, seed, paced_steps=paced)
    row["peak_mib"] = round(common.peak_memory_gib(device) * 1024, 1)
    row["provenance"] = provenance(argv, device) | ({"step_key": key} if key else {})
    if budget.kind == "paced" and as_base:
        row["provenance"]["paced_as"] = variant_name(timed)
    print(
        f"{name} {budget.name} {model} {row['variant']} seed {seed}: "
        f"test ppl {row['test_ppl']:.1f}, {row['steps']:,} steps, "
        f"{row['train_seconds']:.0f} s, peak {row['peak_mib']:,.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    code_version()  # now, before anything trains
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    size = Size(
        args.hidden,
        args.layers,
        args.dropout,
        args.batch,
        args.bptt,
        args.lr,
        args.rounds,
        args.eval_tokens,
        args.eval_every,
        args.device,
    )
    out = args.out or str(ROOT / f"bench/results/quality-{device.type}.json")
    rows: list[dict[str, Any]] = previous(out, args.append)
    calibration: dict[str, dict] = previous(out, args.append, "calibration")
    for other in filter(None, args.merge.split(",")):
        for row in previous(other, True):
            merge_row(rows, row)
        # this file's own step times win (its rows were trained with them), but not over a
        # careful retiming (bench/quality_retime.py --apply) that this file lacks
        theirs = previous(other, True, "calibration")
        calibration = theirs | calibration
        calibration |= {
            k: v for k, v in theirs.items() if "retimed" in v and "retimed" not in calibration[k]
        }
    skipped: dict[str, str] = {}

    def result(done: bool) -> dict[str, Any]:
        targets = quality_report.targets(rows)
        return {
            "command": common.command_line("quality.py", argv),
            "env": common.environment(device),
            "size": size.__dict__,
            "clock": "process CPU seconds" if device.type == "cpu" else "wall seconds",
            "complete": done,
            "skipped": skipped,
            "calibration": calibration,
            "results": rows,
            "targets": targets,
            "markdown": quality_report.document(rows, targets),
        }

    results = common.ResultFile(out, result)
    with tempfile.TemporaryDirectory(prefix="lightrnn-quality-", dir=args.work_dir) as work:
        for name in args.corpora if args.budgets else []:
            source = corpus_dir(name, args.data_root)
            if source is None:
                skipped[name] = f"no {name} corpus found (pass --data-root)"
                continue
            corpus = load(tokenize(name, source, Path(work))[0], name in IN_VOCAB)
            for budget in args.budgets:
                for model in args.models:
                    if budget.match_params and not model.startswith("lightrnn"):
                        continue  # the baselines' row is the budget's own
                    lightrnn = model.startswith("lightrnn")
                    for variant in args.variants if lightrnn else args.baseline_variants:
                        if not variant.fits(model):
                            continue  # e.g. a shortlist for the adaptive softmax
                        sized = resolved(variant, corpus["train"], corpus["vocab"])
                        for seed in args.seeds:
                            job = (name, corpus, model, sized, budget, size, seed)
                            row = one_row(job, calibration, argv, device, args.pace_as)
                            put_row(rows, row)
                            results.save()
    done = results.finish()
    if not args.no_plots and rows:
        made = quality_report.plots(rows, Path(out).parent, Path(out).stem)
        done["plots"] = [str(p) for p in made]
    return done


if __name__ == "__main__":
    main()
