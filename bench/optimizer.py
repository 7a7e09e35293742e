"""What the optimizer's implementation costs per training step, by model and vocabulary.

Adam's update touches every parameter at every step, so its cost grows with the parameters:
with |V| for the full and adaptive softmax (a |V| x d embedding and output layer), with
sqrt(|V|) for LightRNN. torch offers three implementations of the same update: a loop over
the parameters (`foreach=False`, what torch picks on the CPU by default), one over lists of
them (`foreach=True`) and one fused kernel (`fused=True`, what `lightrnn.train` uses where it
applies). This times each on the real models' parameters (gradients drawn at random), one
thread, median of the timed steps:

    .venv/bin/python bench/optimizer.py                # bench/results/optimizer-cpu.json

docs/quality.md#how-the-quality-study-measures quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/optimizer.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from bench import common
from bench.throughput_setting import Setting, build

KINDS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def step_ms(params: list[torch.nn.Parameter], kind: str, steps: int, warmup: int) -> float:
    """Median milliseconds of one Adam step over `params` with implementation `kind`."""
    opt = torch.optim.Adam(params, lr=1e-3, **KINDS[kind])
    for _ in range(warmup):
        opt.step()
    return statistics.median(common.time_ms(opt.step, torch.device("cpu"), steps))


def measure(model: str, vocab_size: int, s: Setting, steps: int, warmup: int) -> dict[str, Any]:
    """One model's row: its parameters and each implementation's step time."""
    torch.manual_seed(s.seed)
    params = [p for p in build(model, vocab_size, s).parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    row: dict[str, Any] = {"model": model, "vocab_size": vocab_size}
    row["params"] = sum(p.numel() for p in params)
    row |= {f"{kind}_ms": step_ms(params, kind, steps, warmup) for kind in KINDS}
    row["loop_over_fused"] = row["loop_ms"] / row["fused_ms"]
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    headers = ["model", "\\|V\\|", "params", "loop ms", "foreach ms", "fused ms", "loop / fused"]
    body = [
        [
            r["model"],
            f"{r['vocab_size']:,}",
            f"{r['params'] / 1e6:.2f}M",
            f"{r['loop_ms']:.1f}",
            f"{r['foreach_ms']:.1f}",
            f"{r['fused_ms']:.1f}",
            f"{r['loop_over_fused']:.1f}x",
        ]
        for r in rows
    ]
    return common.markdown_table(headers, body, "llrrrrr")


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """The figures the docs cite (bench/docs_numbers.py): MODEL/|V|/loop_ms, fused_ms, foreach_ms,
    params and loop_over_fused."""
    out = {}
    for r in saved["rows"]:
        key = f"{r['model']}/{r['vocab_size']}"
        out |= {f"{key}/{k}_ms": f"{r[f'{k}_ms']:.1f}" for k in KINDS}
        out[f"{key}/params"] = f"{r['params'] / 1e6:.2f}M"
        out[f"{key}/loop_over_fused"] = f"{r['loop_over_fused']:.1f}x"
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="33278,151715,567348", help="vocabulary sizes")
    p.add_argument("--models", default="hybrid,adaptive,full")
    p.add_argument("--hidden", type=int, default=200, help="embedding and LSTM size")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench/results/optimizer-cpu.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    s = Setting(hidden=args.hidden, layers=1, device="cpu", threads=args.threads)
    models = common.names(p, args.models, ("hybrid", "lightrnn", "adaptive", "full"), "model")
    rows = []
    for vocab_size in common.sizes(args.sizes):
        for model in models:
            rows.append(measure(model, vocab_size, s, args.steps, args.warmup))
            print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    table = markdown(rows)
    print(table)
    result = {
        "environment": common.environment(torch.device("cpu")),
        "command": common.command_line("bench/optimizer.py", argv),
        "setting": {"hidden": args.hidden, "layers": 1, "threads": args.threads},
        "rows": rows,
        "markdown": table,
    }
    common.write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
