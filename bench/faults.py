"""Faults: a small pipeline killed with SIGKILL at random moments, then run again; does the
re-run end with the very weights and table of an uninterrupted run?

    .venv/bin/python bench/faults.py --kills 20          # -> bench/results/faults.json

Moments are drawn (seeded) among the pipeline's fault points (tasks/faults.py): preparing the
corpus, training, committing a checkpoint, accumulating costs, reallocating, reporting; the
n-th pass through a point is drawn from how often an uninterrupted run passes it. Every run is
`lightrnn run` in a process of its own against one local Prefect server; each kill gets a
fresh store, so the re-run starts from exactly what the killed run left.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, command_line, markdown_table, write_json

BIN = Path(sys.executable).parent
POINTS = ("prepare", "train", "checkpoint", "costs", "reallocate", "report")
SETTINGS = [
    "--profile",
    "tiny",
    "--set",
    "train.max_steps=60",
    "--set",
    "costs.max_tokens=8000",
    "--set",
    "pipeline.checkpoint_steps=20",
    "--set",
    "train.progress_every=10",
]


def corpus_slice(root: Path, train_lines: int) -> Path:
    """The first lines of the bundled WikiText-2 splits (the same text on every run)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train_lines), ("valid", 100), ("test", 100)):
        with lzma.open(ROOT / "data" / "wikitext-2" / f"{split}.txt.xz", "rt") as f:
            (root / f"{split}.txt").write_text("".join(next(f) for _ in range(n)))
    return root


@contextmanager
def prefect_server(home: Path) -> Iterator[dict[str, str]]:
    """A local Prefect server for all the runs; the environment that points at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_API_URL": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Prefect server did not start") from None
                time.sleep(0.5)
        yield {**env, "PREFECT_API_URL": url}
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def run(env: dict[str, str], corpus: Path, store: Path, **extra: str) -> tuple[int, str]:
    import storage

    storage.init_store(f"file://{store}")  # idempotent: a re-run finds its store
    done = subprocess.run(
        [
            str(BIN / "lightrnn"),
            "run",
            "--corpus",
            str(corpus),
            "--store",
            f"file://{store}",
            *SETTINGS,
        ],
        env={**env, **extra},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done.returncode, done.stdout + done.stderr


def outcome(store: Path) -> dict[str, str]:
    """sha256 of the final model's weights and table: what "equal" compares."""
    out = {}
    for name in ("model.safetensors", "table.arrow"):
        (path,) = list((store / "refs" / "runs").glob("*/final/v*.json"))[:1] or [None]
        if path is None:
            return {}
        import storage

        loaded = storage.open_store(f"file://{store}").get(
            str(path.parent.relative_to(store / "refs"))
        )
        out[name] = hashlib.sha256((loaded / name).read_bytes()).hexdigest()
    return out


def reused(log: str) -> str:
    """What the re-run found done, as its log says."""
    parts = []
    if "corpus already prepared" in log:
        parts.append("corpus")
    found = re.findall(
        r"(initial-table|train-round|evaluate|accumulate-costs|reallocate): "
        r"already in the store as (\S+)",
        log,
    )
    kinds = Counter(kind for kind, _ in found)
    parts += [f"{kind} x{n}" if n > 1 else kind for kind, n in sorted(kinds.items())]
    resumed = re.findall(r"resuming round (\d+) from \S+ at step (\d+)", log)
    parts += [f"resumed round {r} at step {s}" for r, s in resumed]
    return ", ".join(parts) or "nothing"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--moments", default="", help="explicit point:n list instead of draws")
    parser.add_argument("--train-lines", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.json"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lightrnn-faults-"))
    result: dict[str, Any] = {"command": command_line("faults.py", argv), "rows": []}
    try:
        corpus = corpus_slice(work / "corpus", args.train_lines)
        with prefect_server(work / "prefect") as env:
            census = work / "census.txt"
            code, log = run(env, corpus, work / "whole", LIGHTRNN_FAULT_TRACE=str(census))
            if code != 0:
                raise RuntimeError(f"the uninterrupted run failed:\n{log[-3000:]}")
            expected = outcome(work / "whole")
            counts = Counter(census.read_text().split())
            result["passes"] = dict(counts)
            moments = draw(args, counts)
            for i, (point, nth) in enumerate(moments, 1):
                store = work / f"killed-{i}"
                code, _ = run(env, corpus, store, LIGHTRNN_KILL_AT=f"{point}:{nth}")
                killed = code == -signal.SIGKILL
                code, log = run(env, corpus, store)
                got = outcome(store) if code == 0 else {}
                row = {
                    "moment": f"{point} #{nth}",
                    "killed": killed,
                    "rerun_exit": code,
                    "reused": reused(log),
                    "equal": got == expected,
                }
                result["rows"].append(row)
                print(row, flush=True)
                result["markdown"] = markdown(result["rows"])
                write_json(args.out, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["all_equal"] = all(r["killed"] and r["equal"] for r in result["rows"])
    write_json(args.out, result)
    print(result.get("markdown", ""))
    return result


def draw(args: argparse.Namespace, counts: Counter) -> list[tuple[str, int]]:
    if args.moments:
        return [(m.split(":")[0], int(m.split(":")[1])) for m in args.moments.split(",")]
    rng = random.Random(args.seed)
    points = [p for p in POINTS if counts[p]]
    return [(p, rng.randint(1, counts[p])) for p in (points * args.kills)[: args.kills]]


def markdown(rows: list[dict[str, Any]]) -> str:
    table = [
        [
            str(i),
            r["moment"],
            "yes" if r["killed"] else "no",
            r["reused"],
            "yes" if r["equal"] else "NO",
        ]
        for i, r in enumerate(rows, 1)
    ]
    return markdown_table(
        ["#", "killed at", "killed", "the re-run reused", "equal"], table, "rllll"
    )


if __name__ == "__main__":
    main()
