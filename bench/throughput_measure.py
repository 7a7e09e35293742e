"""One (model, |V|) of bench/throughput.py, measured in this process: the training step (time,
tokens/s, peak memory, optionally its top operators), then batch-1 inference latency.

    python -m bench.throughput_measure '{"name": ..., "vocab_size": ..., "setting": {...}}'

prints the row as JSON on its last line: how throughput.py runs each one in a fresh process.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from typing import Any

import torch

from bench.common import (
    environment,
    peak_memory_gib,
    reset_peak_memory,
    stopwatch,
    summary_ms,
    synchronize,
    time_ms,
    zipf_ids,
)
from bench.floor import FloorLM
from bench.throughput_setting import Setting, build
from lightrnn.infer import StreamConfig, make_scorer
from lightrnn.model import LightRNN
from lightrnn.recurrent import RecurrentLM
from lightrnn.train import TrainConfig, resolve_device, train_step
from lightrnn.train.config import make_optimizer


def measure(name: str, vocab_size: int, s: Setting) -> dict[str, Any]:
    """Build, train for a few steps, then time batch-1 inference; everything in this process."""
    device = resolve_device(s.device)
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    row: dict[str, Any] = {"model": name, "vocab_size": vocab_size}
    with torch.device(device):  # built where it runs: no CPU copy of a 1.6B-parameter model
        model = build(name, vocab_size, s)
    row["parameters"] = model.num_parameters()
    if isinstance(model, LightRNN):
        row["table"] = [model.config.n_rows, model.config.n_cols]
    row.update(training(model, vocab_size, s, device))
    model.zero_grad(set_to_none=True)  # the optimizer went with training(); the grads go now
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    row.update(inference(model, vocab_size, s, device))
    return row


def training(model: RecurrentLM, vocab_size: int, s: Setting, device: torch.device) -> dict:
    """Time `s.steps` training steps after `s.warmup`; peak memory over all of them."""
    n_windows = 4  # rotate among a few windows, as training does
    ids = torch.from_numpy(zipf_ids(vocab_size, n_windows * s.batch * s.bptt, s.seed))
    windows = ids.view(n_windows, s.batch, s.bptt).to(device)  # [n_windows, B, T]
    opt = make_optimizer(TrainConfig(optimizer="sgd", lr=s.lr), model.parameters())  # as trained
    carried: list = [None, 0]  # the LSTM state, the step count

    def step() -> None:
        window = windows[carried[1] % n_windows]
        _, carried[0] = train_step(model, opt, window, carried[0], s.clip)
        carried[1] += 1

    reset_peak_memory(device)
    for _ in range(s.warmup):
        step()
    synchronize(device)
    ms = summary_ms(time_ms(step, device, s.steps))
    row: dict[str, Any] = {
        "ms_step": ms["median"],
        "ms_step_quartiles": [ms["p25"], ms["p75"]],
        "tokens_per_s": s.batch * s.bptt / (ms["median"] / 1e3),
        "peak_mem_gib": peak_memory_gib(device),
    }
    if s.profile:
        row["profile"] = profile_steps(step, device)
    return row


def inference(model: RecurrentLM, vocab_size: int, s: Setting, device: torch.device) -> dict:
    """Per-word batch-1 latency (ms, median): the model called on [1, 1] ids, and infer.py."""
    model.eval()
    n = s.infer_warmup + s.infer_words
    words = torch.from_numpy(zipf_ids(vocab_size, n, s.seed + 1)).to(device)  # [n]
    out: dict[str, Any] = {}
    with torch.no_grad():
        state = [model.init_state(1, device)]

        def eager(t: int) -> torch.Tensor:
            result = model(words[t : t + 1].view(1, 1), state[0])
            state[0] = result.state
            return result.log_probs

        out["infer_eager_ms"] = per_word_ms(eager, n, s.infer_warmup, device)
        if isinstance(model, FloorLM):
            out["infer_fast_ms"] = None
            return out
        by_dtype: dict[str, float] = {}
        for dtype in s.infer_dtypes.split(","):
            scorer = make_scorer(model, StreamConfig(dtype=dtype, check_ids=False))
            name = str(scorer.dtype).removeprefix("torch.")
            if name in by_dtype:  # "auto" is float32 on the CPU: measured once
                continue
            by_dtype[name] = per_word_ms(
                lambda t, scorer=scorer: scorer.step(words[t : t + 1]), n, s.infer_warmup, device
            )
            out.setdefault("infer_fast_ms", by_dtype[name])
            out.setdefault("infer_fast_dtype", name)
            out["infer_fast_graph"] = scorer.uses_graph
            del scorer
        out["infer_fast_ms_by_dtype"] = by_dtype
    return out


def per_word_ms(
    feed: Callable[[int], torch.Tensor], n: int, warmup: int, device: torch.device
) -> float:
    """Median host time from feeding word t until its log-prob is back on the host."""
    times = []
    for t in range(n):
        synchronize(device)
        elapsed = stopwatch()
        log_prob = feed(t)
        float(log_prob.reshape(-1)[0])  # the caller waits for the word, as a decoder would
        times.append(elapsed() * 1e3)
    return summary_ms(times[warmup:])["median"]


def profile_steps(step: Callable[[], None], device: torch.device, n: int = 3) -> str:
    """The top operators of `n` training steps, by self time on the device that ran them."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for _ in range(n):
            step()
        synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=15)


def measure_row(name: str, vocab_size: int, s: Setting) -> dict[str, Any]:
    """measure(), or the reason it stopped (out of memory), with the environment it ran in."""
    try:
        row = measure(name, vocab_size, s)
    except torch.OutOfMemoryError as exc:
        row = {"model": name, "vocab_size": vocab_size, "skipped": str(exc).splitlines()[0]}
    return {**row, "env": environment(resolve_device(s.device))}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit(
            "usage: python -m bench.throughput_measure JOB (the JSON bench/throughput.py passes)"
        )
    job = json.loads(args[0])
    print(json.dumps(measure_row(job["name"], job["vocab_size"], Setting(**job["setting"]))))


if __name__ == "__main__":
    main()
