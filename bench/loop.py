"""What each round of the pipeline's bootstrap is worth: its own rounds, run past where it stops.

    .venv/bin/python bench/loop.py run --corpus wikitext-2 --what bootstrap --rounds 6 \
        --out .lightrnn/loop/wikitext-2-bootstrap-s0.json
    .venv/bin/python bench/loop.py run --corpus wikitext-2 --what control --rounds 6 \
        --out .lightrnn/loop/wikitext-2-control-s0.json
    .venv/bin/python bench/loop.py report .lightrnn/loop/*.json --out bench/results/loop-cpu.json

`run` calls the pipeline flow itself (`flows.pipeline.lightrnn_pipeline`, on Prefect's ephemeral
API unless PREFECT_API_URL names a server: start one, `prefect server start`, to run several at
once; a local store under .lightrnn/loop) with the `demo` profile, the quality study's best
settings (1 x 200 tied LSTM, 2,000-word shortlist, co-occurrence start; costs from every
training token, as in the study's rows), on one thread:
  - `bootstrap`: --rounds rounds with the table-stability rules and `min_valid_gain` off, so
    the loop goes on until max_rounds (or until validation perplexity gets worse: that rule
    always holds);
  - `control`: one round as long as all of them on the same starting table, never reallocated
    (the profile's early stopping stays on, so it may end sooner, where more steps stopped
    helping); its validation perplexity at each round's end is read from its learning curve.
`report` (bench/loop_report.py) joins them: what each round gained in validation perplexity,
what the reallocations gained over the control at the same step, and where the pipeline's
stopping rule ends the loop for each candidate `pipeline.min_valid_gain`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/loop.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common
from bench.common import ROOT

WORK = ROOT / ".lightrnn" / "loop"
PROFILE = "demo"
CORPORA = {  # name -> (directory, the overrides that corpus needs)
    "wikitext-2": (ROOT / "data" / "wikitext-2", {}),
    "gcide": (  # made by bench/gcide.py; the quality study's vocabulary (min count 3)
        ROOT / ".lightrnn" / "gcide",
        {"corpus.min_count": 3, "corpus.encoding_errors": "replace"},
    ),
}
# Every rule that ends the loop early, off: what a round is worth is measured past them.
NO_EARLY_STOP = {
    "pipeline.moved_threshold": 0.0,
    "pipeline.min_objective_gain": 0.0,
    "pipeline.min_valid_gain": 0.0,
}
STUDY = {"costs.max_tokens": 0, "train.device": "cpu"}  # the study's costs: every token


def overrides(
    corpus: str, what: str, rounds: int, seed: int, profile: str = PROFILE, extra: Any = ()
) -> tuple[int, dict[str, Any]]:
    """(max_rounds, overrides) of one case: the control is one round of all the rounds' steps.
    `extra`: more SECTION.FIELD=VALUE overrides (a smaller run, for the tests)."""
    from flows.profiles import parse_overrides, resolve

    out = {**CORPORA[corpus][1], **STUDY, **NO_EARLY_STOP, **parse_overrides(list(extra))}
    out["pipeline.seed"] = out["train.seed"] = seed
    per_round = resolve(profile, out).train.max_steps
    if what == "control":
        return 1, {**out, "train.max_steps": rounds * per_round}
    return rounds, out


def valid_curve(runs: Path, run_key: str, round_index: int) -> list[dict[str, float]]:
    """[{"step", "valid_ppl"}] of one round, from its TensorBoard event files (tasks/curves.py)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tasks import curves

    acc = EventAccumulator(str(runs / run_key / f"round-{round_index}"))
    acc.Reload()
    if curves.VALID_PPL not in acc.Tags()["scalars"]:
        return []
    points = {e.step: e.value for e in acc.Scalars(curves.VALID_PPL)}  # a resumed run repeats
    return [{"step": s, "valid_ppl": v} for s, v in sorted(points.items())]


def artifact(store: Any, uri: str) -> Path:
    """The local copy of the artifact a run summary names by its ref's URI
    (STORE/refs/NAME/vNNNNNN.json)."""
    name, _, label = uri.split("/refs/", 1)[1].rpartition("/")
    return store.get(name, int(label.removeprefix("v").removesuffix(".json")))


def table_moves(store_url: str, run_key: str, shortlist: int) -> dict[str, list[Any]]:
    """Per round of the run (None after the last round), of its reallocation: `moved_tokens`,
    the share of the table's training tokens carried by the words it moved (are the moves rare
    words only?), and `mates_kept`, [rows, columns] of `Table.mates_kept` (did the grouping
    change, or only the indices?). Read from the run's report in the store, so a run made
    before these were recorded can be measured too."""
    import numpy as np

    import storage
    from lightrnn.table import Table
    from lightrnn.vocab import Vocab
    from tasks import names

    store = storage.open_store(store_url)
    summary = store.resolve(names.report(run_key)).meta["summary"]
    refs = summary["artifacts"]
    counts = Vocab.load(str(artifact(store, refs["corpus"]) / "vocab.arrow")).counts
    table_counts = np.asarray(counts[shortlist:], dtype=np.float64)  # table word i: id K + i
    out: dict[str, list[Any]] = {"moved_tokens": [], "mates_kept": []}
    for r in summary["rounds"]:
        after = refs.get(f"round {r['round']} next table")
        if after is None:
            out["moved_tokens"].append(None)
            out["mates_kept"].append(None)
            continue
        old = Table.load(artifact(store, refs[f"round {r['round']} table"]))
        new = Table.load(artifact(store, after))
        moved = old.cells != new.cells
        out["moved_tokens"].append(float(table_counts[moved].sum() / table_counts.sum()))
        out["mates_kept"].append(list(old.mates_kept(new)))
    return out


def add_table_moves(path: Path, work: Path | None = None) -> dict[str, Any]:
    """Measure `table_moves` for the run written to `path` (its store under `work`, else the
    run's default work folder) and write them into that file."""
    from flows.profiles import resolve

    saved = json.loads(path.read_text())
    work = work or WORK / f"{saved['corpus']}-{saved['what']}-s{saved['seed']}"
    store = (work / "store").resolve().as_uri()
    if "run" not in saved:  # written before runs recorded their key: the store's one run
        import storage

        (saved["run"],) = {n.split("/")[1] for n in storage.open_store(store).names("runs/")}
    shortlist = resolve(saved["profile"], saved["overrides"]).model.shortlist
    saved |= table_moves(store, saved["run"], shortlist)
    common.write_json(path, saved)
    return saved


def run_case(
    corpus: str,
    what: str,
    rounds: int,
    seed: int,
    profile: str = PROFILE,
    extra: Any = (),
    data: Path | None = None,
    work: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """One pipeline run (corpus files from `data`, else the corpus's own directory; its store
    and learning curves under `work`); its summary's rounds, curves and provenance."""
    import torch

    torch.set_num_threads(1)
    work = work or WORK / f"{corpus}-{what}-s{seed}"
    runs = work / "runs"
    os.environ["LIGHTRNN_RUNS_DIR"] = str(runs)
    os.environ["OMP_NUM_THREADS"] = "1"  # the training processes' threads, as this one's

    import storage
    from flows.pipeline import lightrnn_pipeline

    store = (work / "store").resolve().as_uri()
    storage.init_store(store)  # a store that exists already is kept
    from flows.profiles import resolve

    max_rounds, settings = overrides(corpus, what, rounds, seed, profile, extra)
    elapsed = common.stopwatch()
    summary = lightrnn_pipeline(
        corpus=str(data or CORPORA[corpus][0]),
        store=store,
        profile=profile,
        max_rounds=max_rounds,
        overrides=settings,
    )
    keep = ("run", "vocab_size", "n_rows", "n_cols", "train_tokens", "stop_reason", "best_round")
    return {
        "corpus": corpus,
        "what": what,
        "seed": seed,
        "rounds_asked": rounds,
        "profile": profile,
        "overrides": settings,
        **{k: summary[k] for k in keep},
        "valid_ppl": summary["valid_ppl"],
        "test_ppl": summary["test_ppl"],
        "parameters": summary["parameters"],
        "rounds": summary["rounds"],
        **table_moves(store, summary["run"], resolve(profile, settings).model.shortlist),
        "curves": [valid_curve(runs, summary["run"], r["round"]) for r in summary["rounds"]],
        "seconds": elapsed(),
        "provenance": {
            **common.environment(torch.device("cpu")),
            "command": command,
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="one pipeline run: a bootstrap or its control")
    one.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    one.add_argument("--what", choices=("bootstrap", "control"), required=True)
    one.add_argument("--rounds", type=int, default=6, help="rounds (the control: their steps)")
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--out", type=Path, required=True, help="the run's JSON")
    one.add_argument("--profile", default=PROFILE, help="the pipeline profile (default: demo)")
    one.add_argument("--set", action="append", default=[], help="SECTION.FIELD=VALUE override")
    one.add_argument("--data", type=Path, default=None, help="the corpus's train/valid/test dir")
    one.add_argument("--work", type=Path, default=None, help="store, runs (default .lightrnn/loop)")
    tok = sub.add_parser(
        "tokens", help="add moved_tokens and mates_kept to a run written without them"
    )
    tok.add_argument("run", type=Path, help="a JSON file written by `run`")
    tok.add_argument("--work", type=Path, default=None, help="its --work folder, if one was given")
    rep = sub.add_parser("report", help="join runs into bench/results/loop-<device>.json")
    rep.add_argument("runs", nargs="+", type=Path, help="JSON files written by `run`")
    rep.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop-cpu.json")
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.rounds < 2:
            parser.error(f"--rounds {args.rounds}: a bootstrap needs at least 2 rounds")
        from lightrnn.corpus import find_splits
        from lightrnn.errors import CorpusError

        try:
            find_splits(str(args.data or CORPORA[args.corpus][0]))
        except CorpusError as e:
            parser.error(f"{e} (gcide: run `python bench/gcide.py` first)")
        result = run_case(
            args.corpus,
            args.what,
            args.rounds,
            args.seed,
            args.profile,
            args.set,
            args.data,
            args.work,
            common.command_line("loop.py", argv),
        )
        common.write_json(args.out, result)
        return result
    if args.command == "tokens":
        return add_table_moves(args.run, args.work)
    from bench import loop_report

    return loop_report.write(args.runs, args.out)


if __name__ == "__main__":
    main()
