"""The clock that leases and the commit/gc markers read, passed in (as `Timings.clock`) so that
tests can move time forward instead of sleeping, and can give two hosts clocks that disagree.

`now()` is wall time, for what is written to the store (expiries, lease records) and compared
with other hosts' records; `monotonic()` measures how long this process may still act on what
it holds; `sleep()` and `wait()` are how it waits for others.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time, monotonic time and waiting, as leases and gc markers need them."""

    def now(self) -> float:
        """Wall time in seconds since the epoch (UTC), as written into records."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back: for this process's own deadlines."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until `event` is set (True) or `seconds` have passed (False): heartbeats."""
        ...


class SystemClock:
    """The host's clocks: `time.time`, `time.monotonic`, `time.sleep`, `Event.wait`."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()  # stateless: every Timings without a clock of its own uses it
