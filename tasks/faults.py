"""Fault injection for bench/faults.py and its test: SIGKILL this process at a chosen moment.

    LIGHTRNN_KILL_AT=<point>:<n>   the n-th time the pipeline reaches <point>, it kills itself

Points: prepare (the corpus tokenized, not yet committed), train (a training progress report),
checkpoint (a checkpoint's bytes ready, its commit starting), costs (part of the cost pass
done), reallocate (the new table solved, not yet committed), report (the final model committed,
the report not). Unset (the default), `reach` does nothing.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "LIGHTRNN_KILL_AT"
TRACE_ENV = "LIGHTRNN_FAULT_TRACE"  # a file: every point reached is appended to it (a census)
POINTS = ("prepare", "train", "checkpoint", "costs", "reallocate", "report")
_seen: dict[str, int] = {}


def reach(point: str) -> None:
    """Count a pass through `point`; SIGKILL this process if it is the one asked for."""
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a") as f:
            f.write(point + "\n")
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
