"""A clock for tests: time moves only when the test calls `advance`, so a lease's expiry or a
marker's age is reached at once and exactly, instead of by sleeping (see
storage/coordination/clock.py)."""

from __future__ import annotations

import math
import threading
import time


class FakeClock:
    """Wall and monotonic time that stand still until `advance(seconds)`. Threads that sleep or
    wait on it block until the test advances it past their deadline; `settle(thread)` waits
    (in real time) until a thread has reacted to the latest advance.

    Two hosts whose clocks disagree: two FakeClocks with different `start`s, advanced together.
    A frozen process: `advance(seconds, wake=False)`, so its waiting threads (heartbeats) do
    not run although its time moves on; the next plain `advance` wakes them."""

    def __init__(self, start: float | None = None) -> None:
        """`start`: its wall time; by default a whole second 10 s ahead of the host's clock, so
        that what a test writes to a store (file mtime, S3 LastModified) is in its past."""
        self._wall = float(math.ceil(time.time()) + 10 if start is None else start)
        self._mono = 1000.0
        self._seen = self._mono  # the time as waiting threads last saw it
        self._cond = threading.Condition()
        self._blocked: dict[int, float] = {}  # thread ident -> its deadline (monotonic)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._wall})"

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self._block(seconds, None)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return self._block(seconds, event)

    def advance(self, seconds: float, wake: bool = True) -> None:
        """Move wall and monotonic time forward by `seconds`; wake the threads now due,
        unless `wake` is False (their process is frozen)."""
        assert seconds >= 0, "time never goes back"
        with self._cond:
            self._wall += seconds
            self._mono += seconds
            if wake:
                self._seen = self._mono
            self._cond.notify_all()

    def settle(self, *threads: threading.Thread, timeout: float = 30.0) -> None:
        """Wait until each thread has finished, or waits on this clock for a later time."""
        end = time.monotonic() + timeout
        with self._cond:
            while not all(self._idle(t) for t in threads):
                left = end - time.monotonic()
                assert left > 0, f"{threads} did not settle within {timeout} s"
                self._cond.wait(min(left, 0.01))

    def waiting(self, thread: threading.Thread) -> bool:
        """True while `thread` is blocked on this clock (not finished, not running)."""
        with self._cond:
            return thread.is_alive() and thread.ident in self._blocked

    def _idle(self, thread: threading.Thread) -> bool:
        deadline = self._blocked.get(thread.ident or -1)
        return not thread.is_alive() or (deadline is not None and deadline > self._seen)

    def _block(self, seconds: float, event: threading.Event | None) -> bool:
        me = threading.get_ident()
        with self._cond:
            deadline = self._mono + seconds
            self._blocked[me] = deadline
            self._cond.notify_all()
            try:
                while True:
                    if event is not None and event.is_set():
                        return True
                    if self._seen >= deadline:
                        return False
                    self._cond.wait(0.01)  # an Event does not notify this condition
            finally:
                del self._blocked[me]
                self._cond.notify_all()
