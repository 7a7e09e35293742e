"""What the benchmarks share: where they ran (environment, provenance), how they time and measure
memory, how they run one case in a fresh process, how they read their command line and write
their tables and JSON.

torch is imported only inside the functions that take a device: reallocate.py and prepare.py
report their processes' peak RSS, which importing torch would inflate by a few hundred MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# -- where it ran --------------------------------------------------------------------------------


def environment(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on: device name, library versions, code version."""
    import torch

    env: dict[str, Any] = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": load_average(),
        "git_commit": git_commit(),
    }
    if device.type == "cuda":
        env["gpu_memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
    return env


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    return cpu_name()


def cpu_name() -> str:
    """The processor's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def machine() -> str:
    """'x86_64, 2 cores'."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def load_average() -> float:
    """The 1-minute load average: others' work on the shared machine skews CPU timings."""
    return os.getloadavg()[0]


def git_commit() -> str | None:
    """The checkout's commit, with '+dirty' when bench or library files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lightrnn", "bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{head}+dirty" if head and dirty else head or None


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces a run, as typed from the repository root."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", f"bench/{script}", *args])


# -- memory --------------------------------------------------------------------------------------


def proc_kib(path: str | Path) -> dict[str, int]:
    """The numeric fields of a /proc file in kB ({"VmHWM": ..., "MemAvailable": ...}); {} where
    it cannot be read (no /proc, or the process has gone)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[name] = int(value.split()[0])
    return fields


def peak_rss_gib() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss survives execve, so a fresh process
    would report the peak of the parent that forked it), ru_maxrss where /proc is missing."""
    kib = proc_kib("/proc/self/status").get("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20


def available_memory_gib(device: torch.device) -> float:
    """Memory a run may take: the GPU's total, or the host's MemAvailable."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_properties(device).total_memory / 2**30
    kib = proc_kib("/proc/meminfo").get("MemAvailable")
    return float("inf") if kib is None else kib / 2**20


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak: the device's allocator statistics, or on the CPU the process's peak RSS
    (Linux: writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS)."""
    if device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # not Linux: the peak stays the process's since start
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_gib(device: torch.device) -> float:
    """Peak since `reset_peak_memory`: torch.cuda.max_memory_allocated on the GPU; on the CPU the
    process's peak RSS (torch and Python included)."""
    if device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**30
    return peak_rss_gib()


# -- timing --------------------------------------------------------------------------------------


def stopwatch() -> Callable[[], float]:
    """A clock started now: each call returns the seconds since."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Milliseconds of each of `repeats` calls: CUDA events on the GPU, the host clock on the
    CPU. The caller warms up first."""
    if device.type == "cuda":
        import torch

        events = [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(repeats)
        ]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(repeats):
        elapsed = stopwatch()
        fn()
        times.append(elapsed() * 1e3)
    return times


def summary_ms(times: Sequence[float]) -> dict[str, float]:
    """Median (the headline) and quartiles, so a reader can see the spread."""
    q25, q50, q75 = np.percentile(np.asarray(times, dtype=np.float64), [25, 50, 75])
    return {"median": float(q50), "p25": float(q25), "p75": float(q75), "n": len(times)}


# -- inputs --------------------------------------------------------------------------------------


def zipf_cdf(n_types: int, exponent: float = 1.0) -> np.ndarray:
    """The cumulative P(k) ~ 1 / (k + 1)^exponent over k < n_types: frequent types first."""
    cdf = np.cumsum(1.0 / np.arange(1, n_types + 1, dtype=np.float64) ** exponent)
    return cdf / cdf[-1]


def zipf_ids(vocab_size: int, n: int, seed: int, exponent: float = 1.0) -> np.ndarray:
    """n Zipf-distributed ids below vocab_size: frequent words first, like a `Vocab`."""
    rng = np.random.default_rng(seed)
    ids = np.searchsorted(zipf_cdf(vocab_size, exponent), rng.random(n), side="right")
    return np.minimum(ids, vocab_size - 1).astype(np.int64)


def model_spec(
    name: str,
    vocab_size: int,
    *,
    embed: int,
    hidden: int,
    layers: int,
    dropout: float = 0.0,
    amp: bool = True,
) -> dict[str, Any]:
    """The spec `lightrnn.checkpoint.build_model` builds (what `model.spec()` returns) for
    `lightrnn` or a `full` / `adaptive` softmax baseline of these sizes."""
    config = {
        "vocab_size": vocab_size,
        "embed_dim": embed,
        "hidden_dim": hidden,
        "num_layers": layers,
        "dropout": dropout,
        "amp": amp,
    }
    if name == "lightrnn":
        return {"kind": "lightrnn", "config": config}
    return {"kind": "baseline", "config": {**config, "softmax": name}}


# -- command line and child processes ------------------------------------------------------------


def names(parser: argparse.ArgumentParser, text: str, known: Sequence[str], what: str) -> list[str]:
    """A comma-separated list of `known` names; an unknown one is a usage error."""
    chosen = [n for n in text.split(",") if n]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown {what} {unknown}: choose from {', '.join(known)}")
    return chosen


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """The dataclass `cls` from the options of the same names (its defaults for the others)."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**given, **overrides})


def sizes(text: str) -> list[int]:
    """'10000,33278' -> [10000, 33278]."""
    return [int(v) for v in text.split(",") if v]


class ChildFailed(Exception):
    """A child process exited with an error; `output` is its stderr (else stdout)."""

    def __init__(self, returncode: int, output: str) -> None:
        super().__init__(f"exit {returncode}: {output[-2000:]}")
        self.returncode = returncode
        self.output = output

    @property
    def killed(self) -> bool:
        """SIGKILL: the kernel's out-of-memory killer, most likely."""
        return self.returncode in (-9, 137)


def run_child(module: str, args: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """`python -m bench.<module> args` in a fresh process (its peak memory is its own); the JSON
    object on the last line of its stdout. Raises ChildFailed, or subprocess.TimeoutExpired."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *([path] if path else [])])}
    cmd = [sys.executable, "-m", f"bench.{module}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise ChildFailed(proc.returncode, proc.stderr or proc.stdout)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- output --------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str, unit: str = "") -> str:
    """The value with its unit, or a bare "-" where it was not measured."""
    return "-" if value is None else format(value, spec) + unit


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A Markdown table; `align` holds one of l, r, c or - (none) per column."""
    marks = {"l": ":---", "r": "---:", "c": ":---:", "-": "---"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def target(value: Any, goal: Any, met: bool | None) -> dict[str, Any]:
    """One of the issue's targets against what was measured; `met` None: not measured."""
    return {"value": value, "target": goal, "met": met}


def target_lines(targets: dict[str, dict], show: Callable[[Any], str]) -> str:
    """'- name: value (target ...): met' per target, the value written by `show`."""
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    return "\n".join(
        f"- {name}: {show(t['value'])} (target {t['target']}): {verdict[t['met']]}"
        for name, t in targets.items()
    )


class ResultFile:
    """A benchmark's JSON, rewritten after every measurement so that a run cut short keeps what
    it finished ("complete": false). `make(done)` returns the content, its "markdown" included."""

    def __init__(self, path: str | Path, make: Callable[[bool], dict[str, Any]]) -> None:
        self.path, self.make = path, make

    def save(self) -> None:
        write_json(self.path, self.make(False))

    def finish(self) -> dict[str, Any]:
        """The complete result: written, its Markdown printed, and returned."""
        result = self.make(True)
        write_json(self.path, result)
        print(result["markdown"])
        return result


def write_json(path: str | Path, result: dict[str, Any]) -> None:
    """Write `result` whole or not at all (a run cut short leaves the previous file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    tmp.replace(path)


def budget_clock(device: str) -> Callable[[], float]:
    """The clock budgets are counted on: on the CPU the process's CPU seconds (with one torch
    thread, the wall-clock seconds of a dedicated core, and unmoved by other jobs on a shared
    machine); on a GPU, wall-clock seconds."""
    from lightrnn.train import resolve_device

    return time.process_time if resolve_device(device).type == "cpu" else time.perf_counter
