"""Data-parallel scaling: tokens/s and time per round with 1, 2, ... training processes.

    .venv/bin/python bench/scaling.py --device cpu --processes 1,2          # -> scaling-cpu.json
    .venv/bin/python bench/scaling.py --device cuda --processes 1,2,4,8     # one process per GPU

Each row trains one bootstrap round of the same LightRNN on the same corpus through the
pipeline's own launcher (torchrun, `tasks/training/launch.py`) with `launch.nproc` processes,
each with
`--batch` rows (the global batch grows with the processes, as in the pipeline) and one CPU
thread. Reported: the round's wall seconds (launch and process-group set-up included), the
training tokens/s rank 0 measured (tokens of all processes), and the speed-up over one process.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    ROOT,
    command_line,
    environment,
    fmt,
    markdown_table,
    sizes,
    write_json,
)

CORPORA = {"ptb": "ptb", "wikitext-2": "wikitext-2"}


def one_round(corpus: Path, work: Path, processes: int, args: argparse.Namespace) -> dict:
    """Train one round with `processes` processes; its wall time and throughput."""
    import storage
    from flows.profiles import resolve
    from tasks.jobs import first_round
    from tasks.training.launch import launch_round

    settings = resolve(
        "demo",
        {
            "launch.nproc": processes,
            "train.batch_size": args.batch,
            "train.max_steps": args.steps,
            "train.eval_every": 0,
            "train.device": args.device,
            "model.hidden_dim": args.hidden,
            "model.embed_dim": args.hidden,
            "pipeline.checkpoint_steps": 0,
            "pipeline.checkpoint_minutes": 0.0,
        },
    )
    url = f"file://{work}/store"
    storage.init_store(url)  # a new store for this benchmark run
    job = first_round(url, str(corpus), settings, run_key="scaling")
    lines: list[str] = []
    start = time.perf_counter()
    result = launch_round(job, lines.append)
    seconds = time.perf_counter() - start
    version = storage.open_store(job.store_url).resolve(result["name"], result["version"])
    summary = version.meta["summary"]
    return {
        "processes": processes,
        "global_batch": args.batch * processes,
        "steps": summary["steps"],
        "round_seconds": seconds,
        "train_seconds": summary["seconds"],
        "tokens_per_s": summary["tokens_per_s"] * processes,  # rank 0's rate x processes
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["tokens_per_s"] if rows else 1.0
    table = [
        [
            str(r["processes"]),
            str(r["global_batch"]),
            f"{r['steps']:,}",
            fmt(r["round_seconds"], ".1f"),
            fmt(r["train_seconds"], ".1f"),
            f"{r['tokens_per_s']:,.0f}",
            fmt(r["tokens_per_s"] / base, ".2f"),
        ]
        for r in rows
    ]
    headers = ["processes", "global batch", "steps", "round s", "train s", "tokens/s", "speed-up"]
    return markdown_table(headers, table, "rrrrrrr")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--corpus", default="wikitext-2", choices=sorted(CORPORA))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32, help="rows per process")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    counts = sizes(args.processes)
    corpus = Path(args.data) / CORPORA[args.corpus]
    out = args.out or str(ROOT / "bench" / "results" / f"scaling-{args.device}.json")
    result: dict[str, Any] = {
        "command": command_line("scaling.py", argv),
        "environment": environment(torch.device(args.device)),
        "settings": vars(args),
        "rows": [],
    }
    for n in counts:
        work = Path(tempfile.mkdtemp(prefix=f"lightrnn-scaling-{n}-"))
        try:
            result["rows"].append(one_round(corpus, work, n, args))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result["markdown"] = markdown(result["rows"])
        write_json(out, result)
        print(result["rows"][-1], flush=True)
    print(result["markdown"])
    return result


if __name__ == "__main__":
    main()
