"""Benchmark the reallocation solvers on costs with LightRNN's structure.

For each vocabulary size: synthetic l_r, l_c (lightrnn/allocate/synthetic.py: latent word groups
that prefer a few rows and columns, Zipf counts, float32) and a random current table; then each
method in a fresh subprocess, so that its peak RSS (inputs included, as in the pipeline) is its
own. Prints a Markdown table and writes JSON (default bench/results/reallocate.json).

    .venv/bin/python bench/reallocate.py          # the table of docs/reallocation.md (~15 min)
    .venv/bin/python bench/reallocate.py --sizes 10000,33278 --candidates 64
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as `python bench/reallocate.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common
from lightrnn.allocate import AllocateConfig, objective, reallocate
from lightrnn.allocate.synthetic import synthetic_costs
from lightrnn.table import Table

DEFAULT_SIZES = "10000,33278,100000,300000,793471"
SPARSE = ("sparse", "auction", "lapmod")  # the methods that take --candidates, --candidate-rows
EXACT_MAX_WORDS = 10_000  # dense float64 lapjv: 0.8 GB of costs and ~15 s here
# above it, up to --dense32-max words: lapjvs on float32 costs (33k words: ~100 s, 9 GiB)


def run_one(args: argparse.Namespace) -> dict:
    """One method on one size, in this process: the measurements as a dict."""
    elapsed = common.stopwatch()
    l_r, l_c = synthetic_costs(args.one, seed=args.seed)
    current = Table.random(args.one, seed=args.seed + 1)
    gen_seconds = elapsed()
    if args.method == "dense32":
        return dense32_reference(l_r, l_c, current, gen_seconds)
    config = AllocateConfig(args.method, options_for(args))
    load = common.load_average()  # the machine is shared: say how busy it was
    _, report = reallocate(l_r, l_c, current, config=config)
    out = report.to_dict()
    out["loadavg_1min"] = [load, common.load_average()]
    out["generate_seconds"] = gen_seconds
    out["peak_rss_gib"] = common.peak_rss_gib()
    return out


def options_for(args: argparse.Namespace) -> dict:
    """The method's options from the command line."""
    if args.method == "exact":
        return {"max_bytes": 1 << 40}  # sized by EXACT_MAX_WORDS here, not by memory
    if args.method in SPARSE:
        return {"candidates": args.candidates, "candidate_rows": args.candidate_rows}
    return {}


def dense32_reference(l_r: np.ndarray, l_c: np.ndarray, current: Table, gen_seconds: float) -> dict:
    """The dense optimum where float64 lapjv no longer fits: lap.lapjvs on float32 costs (shifted
    per word, which changes no argmin). Exact up to rounding each cost to float32 (~1e-7)."""
    import lap

    elapsed = common.stopwatch()
    rows_of = np.repeat(np.arange(current.n_rows), current.n_cols)
    cols_of = np.tile(np.arange(current.n_cols), current.n_rows)
    cost = np.empty((current.vocab_size, current.n_cells), dtype=np.float32)  # [V, R * C]
    for s in range(0, current.vocab_size, 4096):
        block = l_r[s : s + 4096].astype(np.float64)[:, rows_of]
        block += l_c[s : s + 4096].astype(np.float64)[:, cols_of]
        cost[s : s + 4096] = block - block.min(axis=1, keepdims=True)
    x, _ = lap.lapjvs(cost, extend_cost=True, return_cost=False, jvx_like=False)
    cells = np.asarray(x, dtype=np.int64)[: current.vocab_size]
    new = Table.from_cells(cells, current.n_rows, current.n_cols)
    before, after = objective(l_r, l_c, current), objective(l_r, l_c, new)
    moved = int(np.count_nonzero(new.cells != current.cells))
    return {
        "method": "dense32",
        "solver": "lapjvs-float32",
        "vocab_size": current.vocab_size,
        "n_rows": current.n_rows,
        "n_cols": current.n_cols,
        "objective_before": before,
        "objective_after": after,
        "words_moved": moved,
        "seconds": elapsed(),
        "generate_seconds": gen_seconds,
        "peak_rss_gib": common.peak_rss_gib(),
    }


def spawn(size: int, method: str, args: argparse.Namespace) -> dict:
    """run_one in a fresh process; {"error": its output, "method"} where it failed."""
    child_args = ["--one", str(size), "--method", method, "--candidates", str(args.candidates)]
    child_args += ["--candidate-rows", str(args.candidate_rows)]
    try:
        return common.run_child("reallocate", [*child_args, "--seed", str(args.seed)])
    except common.ChildFailed as exc:
        return {"error": exc.output[-2000:], "method": method}


def pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return (a / b - 1.0) * 100.0


def summarise(size: int, runs: dict[str, dict], headline: str) -> dict:
    main = runs[headline]
    exact = runs.get("exact", runs.get("dense32", {})).get("objective_after")
    greedy = runs.get("greedy", {}).get("objective_after")
    return {
        "V": size,
        "R": main["n_rows"],
        "C": main["n_cols"],
        "method": f"{main['method']} ({main['solver']})",
        "seconds": main["seconds"],
        "peak_rss_gib": main["peak_rss_gib"],
        "objective": main["objective_after"],
        "vs_exact_pct": pct(main["objective_after"], exact),
        "vs_greedy_pct": pct(main["objective_after"], greedy),
        "vs_current_pct": pct(main["objective_after"], main["objective_before"]),
        "words_moved": main["words_moved"],
        "gap_bound_pct": None if main["gap_bound"] is None else 100 * main["gap_bound"],
        "greedy_seconds": runs.get("greedy", {}).get("seconds"),
        "exact_seconds": runs.get("exact", runs.get("dense32", {})).get("seconds"),
        "exact_reference": "exact" if "exact" in runs else "dense32" if "dense32" in runs else None,
        "runs": runs,
    }


def markdown(rows: list[dict]) -> str:
    fmt = common.fmt
    headers = ["V", "table", "method", "seconds", "peak RSS GiB", "vs exact", "proven gap <="]
    headers += ["vs greedy", "vs current", "words moved", "exact s", "greedy s"]
    body = [
        [
            f"{r['V']:,}",
            f"{r['R']} x {r['C']}",
            r["method"],
            f"{r['seconds']:.1f}",
            f"{r['peak_rss_gib']:.2f}",
            fmt(r["vs_exact_pct"], "+.4f", "%")
            + (" (f32)" if r["exact_reference"] == "dense32" else ""),
            fmt(r["gap_bound_pct"], ".3f", "%"),
            fmt(r["vs_greedy_pct"], "+.2f", "%"),
            fmt(r["vs_current_pct"], "+.2f", "%"),
            f"{r['words_moved']:,}",
            fmt(r["exact_seconds"], ".1f"),
            fmt(r["greedy_seconds"], ".1f"),
        ]
        for r in rows
    ]
    return common.markdown_table(headers, body, "rclrrrrrrrrr")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated vocab sizes")
    parser.add_argument("--candidates", type=int, default=128, help="sparse: cells per word")
    parser.add_argument("--candidate-rows", type=int, default=16, help="sparse: best rows/cols")
    parser.add_argument(
        "--methods",
        default="sparse,exact,dense32,greedy",
        help="what to run per size: allocation methods (auto, exact, sparse, auction, lapmod, "
        "greedy) and dense32",
    )
    parser.add_argument(
        "--dense32-max",
        type=int,
        default=40_000,
        help="reference optimum by float32 lapjvs up to this size, above the float64 exact one",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(common.ROOT / "bench/results/reallocate.json"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one size
    parser.add_argument("--method", default="sparse", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args)))
        return
    rows = []
    methods = [m for m in args.methods.split(",") if m]
    for size in common.sizes(args.sizes):
        runs = {}
        for method in methods:
            if method == "exact" and size > EXACT_MAX_WORDS:
                continue
            if method == "dense32" and not EXACT_MAX_WORDS < size <= args.dense32_max:
                continue
            runs[method] = spawn(size, method, args)
            if "error" in runs[method]:
                print(f"V={size} {method} failed:\n{runs[method]['error']}", file=sys.stderr)
                runs.pop(method)
                continue
            r = runs[method]
            print(
                f"V={size:,} {method}: {r['seconds']:.1f} s, {r['peak_rss_gib']:.2f} GiB, "
                f"objective {r['objective_after']:.6g}",
                file=sys.stderr,
                flush=True,
            )
        if methods[0] in runs:
            rows.append(summarise(size, runs, methods[0]))
    table = markdown(rows)
    print(table)
    result = {
        "command": common.command_line("reallocate.py", argv),
        "machine": f"{common.machine()}, Python {platform.python_version()}",
        "candidates": args.candidates,
        "candidate_rows": args.candidate_rows,
        "seed": args.seed,
        "sizes": rows,
        "markdown": table,
    }
    common.write_json(args.out, result)


if __name__ == "__main__":
    main()
