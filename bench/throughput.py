"""Speed and memory of LightRNN against full- and adaptive-softmax LSTM language models.

For each vocabulary size |V| and model: the training step (forward, backward, gradient clipping,
SGD update: `lightrnn.train.train_step`, as `Trainer` does it) in ms (median of the timed steps;
CUDA events on the GPU), tokens (words) per second, parameters, peak memory
(torch.cuda.max_memory_allocated on the GPU, the process's peak RSS on the CPU), and batch-1
per-word inference latency, each word's log-prob read back on the host before the next word goes
in: "eager" calls the model on one word, "fast" is `lightrnn.infer` (a CUDA graph per word on the
GPU, the same static-buffer step run eagerly on the CPU). Models: `lightrnn` (plain), `hybrid`
(tied, `--shortlist` K words outside the table, as every profile trains it), `full`,
`adaptive`, and `floor`: the same LSTM over the doubled (row, column) sequence with no output
layer, which no LightRNN step can beat.

Ids are Zipf-distributed (exponent 1) over |V| for every size and model. Each (model, |V|) runs in
a fresh process, so that its peak memory is its own; one that cannot fit is skipped with the
reason recorded (a memory estimate above what the device has, or an out-of-memory error).

    .venv/bin/python bench/throughput.py                  # the issue's configuration (GPU)
    .venv/bin/python bench/throughput.py --device cpu --hidden 256 --batch 32 \\
        --sizes 10000,33278,100000 --steps 5 --warmup 2   # bench/results/throughput-cpu.json

Here the command line and the sweep; throughput_setting.py the models and the Setting,
throughput_measure.py one (model, |V|), throughput_report.py the summary and the tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/throughput.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common
from bench.throughput_measure import measure_row
from bench.throughput_report import best, check_targets, markdown, summarise
from bench.throughput_setting import MODELS, Setting, estimate_gib
from lightrnn.train import resolve_device

DEFAULT_SIZES = "10000,33278,100000,793471"


def run_one(name: str, vocab_size: int, s: Setting, in_process: bool, timeout: float) -> dict:
    """The row of one (model, |V|), measured in a fresh process (or this one); a failure
    becomes a row with the reason."""
    if in_process:
        return measure_row(name, vocab_size, s)
    job = json.dumps({"name": name, "vocab_size": vocab_size, "setting": asdict(s)})
    try:
        return common.run_child("throughput_measure", [job], timeout=timeout)
    except subprocess.TimeoutExpired:
        reason = f"over {timeout:.0f} s"
    except common.ChildFailed as exc:
        last = (exc.output.strip().splitlines() or ["no output"])[-1]
        reason = "failed: " + ("killed (out of memory?)" if exc.killed else last)
    return {"model": name, "vocab_size": vocab_size, "skipped": reason}


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], list[int], Setting]:
    """The options, the models and sizes chosen, and the Setting they make."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated vocabulary sizes")
    p.add_argument("--models", default=",".join(MODELS), help=f"any of {','.join(MODELS)}")
    p.add_argument("--hidden", type=int, default=Setting.hidden, help="units (= embedding size)")
    p.add_argument("--layers", type=int, default=Setting.layers)
    p.add_argument("--batch", type=int, default=Setting.batch)
    p.add_argument("--bptt", type=int, default=Setting.bptt, help="words per window")
    p.add_argument("--shortlist", type=int, default=Setting.shortlist, help="the hybrid's K")
    p.add_argument("--steps", type=int, default=Setting.steps, help="timed training steps")
    p.add_argument("--warmup", type=int, default=Setting.warmup, help="untimed steps first")
    p.add_argument("--infer-words", type=int, default=Setting.infer_words)
    p.add_argument("--infer-warmup", type=int, default=Setting.infer_warmup)
    p.add_argument(
        "--infer-dtypes", default=Setting.infer_dtypes, help="fast path: auto, float32, bfloat16"
    )
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--profile", action="store_true", help="top operators of 3 steps, in JSON")
    p.add_argument("--max-mem-gib", type=float, default=0.0, help="0: what the device has")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per (model, |V|)")
    p.add_argument("--repeat", type=int, default=1, help="sweeps; each row keeps its fastest")
    p.add_argument("--in-process", action="store_true", help="no child processes (tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="", help="default bench/results/throughput-<device>.json")
    args = p.parse_args(argv)
    models = common.names(p, args.models, MODELS, "models")
    if args.repeat < 1:
        p.error(f"--repeat {args.repeat}: must be at least 1")
    s = common.from_args(Setting, args, amp=not args.no_amp)
    return args, models, common.sizes(args.sizes), s


def main(argv: list[str] | None = None) -> dict:
    args, models, sizes, s = parse(argv)
    device = resolve_device(args.device)
    limit = args.max_mem_gib or common.available_memory_gib(device)
    out = args.out or str(common.ROOT / f"bench/results/throughput-{device.type}.json")
    rows: list[dict] = []
    env: dict | None = None

    def result(done: bool) -> dict[str, Any]:
        """The JSON of the rows so far."""
        summary = summarise(rows, sizes)
        targets = check_targets(summary)
        return {
            "command": common.command_line("throughput.py", argv),
            "env": env or common.environment(device),
            "setting": asdict(s),
            "ids": "Zipf (exponent 1) over |V|, the same for every model; 4 windows rotated",
            "memory": "torch.cuda.max_memory_allocated"
            if device.type == "cuda"
            else "peak RSS of the process (VmHWM), torch and Python included",
            "targets_note": "the issue's targets are for an H100 at 2 x 1024, batch 128, bptt 35",
            "complete": done,
            "rows": rows,
            "summary": summary,
            "targets": targets,
            "markdown": markdown(rows, summary, targets),
        }

    results = common.ResultFile(out, result)
    runs: dict[tuple[int, str], list[dict]] = {}
    for rep in range(args.repeat):  # whole sweeps, so that a busy spell hits one run of each
        for v in sizes:
            for name in (m for m in MODELS if m in models):
                if rep and "skipped" in runs[v, name][0]:
                    continue  # what did not fit once will not fit again
                need = estimate_gib(name, v, s, device)
                if need > limit:
                    row = {
                        "model": name,
                        "vocab_size": v,
                        "skipped": f"needs ~{need:.0f} GiB, {limit:.0f} GiB available",
                    }
                else:
                    row = run_one(name, v, s, args.in_process, args.timeout)
                    env = env or row.get("env")
                row.pop("env", None)
                row["estimate_gib"] = round(need, 2)
                runs.setdefault((v, name), []).append(row)
                shown = row.get("skipped") or f"{row['ms_step']:.1f} ms/step"
                print(f"|V|={v:,} {name}: {shown}", file=sys.stderr, flush=True)
                rows[:] = [best(r) for r in runs.values()]
                results.save()
    return results.finish()


if __name__ == "__main__":
    main()
