"""Leases from create-only records: one holder at a time (of N racing processes exactly one
wins, on file:// and on a real S3), renewal, release, expiry of a crashed holder, a heartbeat
thread, messages that say who holds a lease and until when, and gc keeping live lease records.
Time is a FakeClock that the tests move forward (no test sleeps out a lease), and hosts whose
clocks disagree by the allowed skew are two such clocks.

The racing processes are functions of this file, run as `python test_store_lease.py ...`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock
from store_backends import SHARED_BACKENDS, url_for

import storage
from storage.records.layout import LEASES
from storage.records.version import parse_created

REPO = Path(__file__).resolve().parents[1]
SKEW = 5.0  # the allowed clock skew between hosts (the default), in fake seconds
TTL = 30.0  # every lease below, unless said otherwise
EPS = 0.25  # a step just past a bound (exact in binary, and above the records' 1 ms)


def open_at(url: str, tmp_path: Path, clock: FakeClock, who: str = "a") -> storage.Store:
    """The store at `url` as a host whose clock is `clock` sees it."""
    timings = storage.Timings(gc_ttl_seconds=60, clock_skew_seconds=SKEW, clock=clock)
    return storage.open_store(
        url, cache_dir=tmp_path / f"cache-{who}", timings=timings, create=True
    )


def heartbeat(name: str) -> threading.Thread:
    """The thread that renews lease `name` (a context manager's)."""
    return next(t for t in threading.enumerate() if t.name == f"lease-{name}")


def test_one_holder_at_a_time_and_who_it_is(store_url: str, tmp_path: Path) -> None:
    store = open_at(store_url, tmp_path, FakeClock())
    lease = store.acquire_lease("runs/r1", owner="run-r1 attempt 1", ttl_seconds=TTL)

    holder = lease.holder
    assert (holder.owner, holder.host, holder.pid) == (
        "run-r1 attempt 1",
        socket.gethostname(),
        os.getpid(),
    )
    assert holder.acquired == holder.renewed and holder.expires > holder.renewed
    assert lease.held
    with pytest.raises(storage.LeaseHeldError) as info:
        store.acquire_lease("runs/r1", owner="run-r1 attempt 2", ttl_seconds=TTL)
    message = str(info.value)  # names the lease, the store, the holder and until when; the fix
    for fact in ("'runs/r1'", store.url, "'run-r1 attempt 1'", f"pid {os.getpid()}"):
        assert fact in message
    for fact in (socket.gethostname(), holder.expires, "wait_seconds="):
        assert fact in message
    assert info.value.holder == holder
    assert store.lease_holder("runs/r1") == holder
    other = store.acquire_lease("runs/r2", owner="run-r2", ttl_seconds=TTL)  # another name
    assert other.held

    lease.release()
    assert not lease.held
    again = store.acquire_lease("runs/r1", owner="run-r1 attempt 2", ttl_seconds=TTL)
    assert again.holder.owner == "run-r1 attempt 2" and again.held
    lease.release()  # idempotent, and does not touch the new holder's lease
    assert again.held and store.lease_holder("runs/r1") == again.holder


def test_renewal_extends_and_expiry_frees_a_crashed_holders_lease(
    store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    store = open_at(store_url, tmp_path, clock)
    lease = store.acquire_lease("runs/r1", owner="first", ttl_seconds=TTL)
    first_expiry = lease.holder.expires
    clock.advance(10)
    renewed = lease.renew()
    assert parse_created(renewed.expires).timestamp() == clock.now() + TTL
    assert renewed.expires > first_expiry and renewed.acquired == lease.holder.acquired
    with pytest.raises(storage.LeaseHeldError):
        store.acquire_lease("runs/r1", owner="second", ttl_seconds=TTL)

    clock.advance(TTL + SKEW + EPS)  # the holder "crashed": no renewal, so the lease lapses
    assert not lease.held
    second = store.acquire_lease("runs/r1", owner="second", ttl_seconds=TTL)
    assert second.holder.owner == "second"
    with pytest.raises(storage.LeaseLostError) as info:
        lease.renew()
    assert "'first'" in str(info.value) and "acquire it again" in str(info.value)
    with pytest.raises(storage.LeaseLostError):
        lease.check()


def test_a_late_renewal_loses_to_the_new_holder(store_url: str, tmp_path: Path) -> None:
    slow, other = FakeClock(), FakeClock()
    lease = open_at(store_url, tmp_path, slow).acquire_lease("runs/r1", "slow", ttl_seconds=TTL)
    other.advance(TTL + SKEW + EPS)  # the holder's own clock ran slow: it believes it holds on
    store = open_at(store_url, tmp_path, other, "other")
    taker = store.acquire_lease("runs/r1", owner="taker", ttl_seconds=TTL)
    assert lease.held

    with pytest.raises(storage.LeaseLostError, match="taken over by 'taker'"):
        lease.renew()
    assert not lease.held
    assert taker.held and store.lease_holder("runs/r1") == taker.holder


def test_the_context_manager_renews_in_the_background(store_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    store = open_at(store_url, tmp_path, clock)
    with store.acquire_lease("runs/r1", owner="long job", ttl_seconds=TTL) as lease:
        beat = heartbeat("runs/r1")
        for epoch in range(2, 11):  # 3 x ttl, renewed every ttl/3
            clock.advance(TTL / 3)
            clock.settle(beat)
            assert lease.held and lease.holder.epoch == epoch
            lease.check()
        with pytest.raises(storage.LeaseHeldError):
            store.acquire_lease("runs/r1", owner="intruder", ttl_seconds=TTL)
    assert not lease.held and not beat.is_alive()
    assert store.lease_holder("runs/r1").released  # type: ignore[union-attr]
    assert store.acquire_lease("runs/r1", owner="next", ttl_seconds=TTL).held


def test_wait_seconds_waits_for_the_holder_to_go(store_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    store = open_at(store_url, tmp_path, clock)
    first = store.acquire_lease("runs/r1", owner="first", ttl_seconds=TTL)  # never renewed
    lapsed = parse_created(first.holder.expires).timestamp() + SKEW
    waiting = Run(lambda: store.acquire_lease("runs/r1", "patient", TTL, wait_seconds=60))
    while waiting.is_alive():  # it looks again every ttl/10, capped at 1 s
        clock.settle(waiting)
        clock.advance(1.0)
    lease = waiting.outcome()
    assert lease.holder.owner == "patient"
    assert lapsed < parse_created(lease.holder.acquired).timestamp() <= lapsed + 1.0


def test_wait_seconds_gives_up_at_its_deadline(store_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    store = open_at(store_url, tmp_path, clock)
    store.acquire_lease("runs/r1", owner="first", ttl_seconds=TTL)
    started = clock.monotonic()
    waiting = Run(lambda: store.acquire_lease("runs/r1", "patient", TTL, wait_seconds=10))
    while waiting.is_alive():
        clock.settle(waiting)
        clock.advance(0.5)
    with pytest.raises(storage.LeaseHeldError, match="'first'"):
        waiting.outcome()
    assert 10 <= clock.monotonic() - started <= 10.5


# -- the stated assumptions, at their bounds ------------------------------------------------
@pytest.mark.parametrize("offset", [SKEW, 0.0, -SKEW], ids=["ahead", "same", "behind"])
def test_at_the_allowed_skew_the_holder_stops_before_another_host_may_take_over(
    store_url: str, tmp_path: Path, offset: float
) -> None:
    """Host B's clock is `offset` ahead of the holder A's. A treats the lease as its own until
    ttl - skew after it took it (by its monotonic clock); B takes it only once its clock is past
    `expires` + skew. At |offset| = skew those two moments are still in order."""
    a_clock = FakeClock()
    b_clock = FakeClock(a_clock.now() + offset)
    a_store = open_at(store_url, tmp_path, a_clock, "a")
    b_store = open_at(store_url, tmp_path, b_clock, "b")

    def both(seconds: float) -> None:
        a_clock.advance(seconds)
        b_clock.advance(seconds)

    lease = a_store.acquire_lease("runs/r1", owner="a", ttl_seconds=TTL)
    expires = parse_created(lease.holder.expires).timestamp()
    assert expires == a_clock.now() + TTL

    both(TTL - SKEW - EPS)  # A's last moment
    assert lease.held
    lease.check()
    with pytest.raises(storage.LeaseHeldError):
        b_store.acquire_lease("runs/r1", owner="b", ttl_seconds=TTL)
    both(EPS)
    assert not lease.held  # from here on A must not act on the lease
    both(expires + SKEW - b_clock.now())  # B's clock reads expires + skew: not yet
    with pytest.raises(storage.LeaseHeldError):
        b_store.acquire_lease("runs/r1", owner="b", ttl_seconds=TTL)
    both(EPS)
    taker = b_store.acquire_lease("runs/r1", owner="b", ttl_seconds=TTL)

    assert a_store.lease_holder("runs/r1") == taker.holder
    with pytest.raises(storage.LeaseLostError):
        lease.check()
    with pytest.raises(storage.LeaseLostError):
        lease.renew()


def test_a_holder_paused_past_its_lease_finds_it_lost_before_it_writes(
    store_url: str, tmp_path: Path
) -> None:
    """A run holding the lease (renewed in the background) is frozen for two ttls; another host
    takes the lease over. When the run resumes, `held` and `check()`, which it calls before
    guarded work, say the lease is lost, and its heartbeat stops without claiming it back."""
    a_clock, b_clock = FakeClock(), FakeClock()
    store = open_at(store_url, tmp_path, a_clock, "a")
    other = open_at(store_url, tmp_path, b_clock, "b")
    with store.acquire_lease("runs/r1", owner="paused run", ttl_seconds=TTL) as lease:
        beat = heartbeat("runs/r1")
        a_clock.advance(TTL / 3)
        b_clock.advance(TTL / 3)
        a_clock.settle(beat)
        assert lease.holder.epoch == 2

        a_clock.advance(2 * TTL, wake=False)  # frozen: neither the run nor its heartbeat runs
        b_clock.advance(2 * TTL)
        taker = other.acquire_lease("runs/r1", owner="taker", ttl_seconds=TTL)

        assert not lease.held
        with pytest.raises(storage.LeaseLostError) as info:
            lease.check()
        assert "'paused run'" in str(info.value) and "stop the work" in str(info.value)
        a_clock.advance(0)  # the heartbeat runs again: it finds the lease lost and stops
        a_clock.settle(beat)
        assert not beat.is_alive()
    assert other.lease_holder("runs/r1") == taker.holder and taker.held


def test_lease_input_errors(tmp_path: Path) -> None:
    store = storage.open_store((tmp_path / "s").as_uri(), cache_dir=tmp_path / "c", create=True)
    with pytest.raises(storage.InvalidInputError) as info:
        store.acquire_lease("runs/r1", owner="x", ttl_seconds=5)  # default skew allowance: 5 s
    assert "ttl_seconds=5" in str(info.value) and "10 s" in str(info.value)  # twice the skew
    with pytest.raises(storage.InvalidInputError, match="lease owner ''"):
        store.acquire_lease("runs/r1", owner="", ttl_seconds=60)
    with pytest.raises(storage.InvalidInputError, match="artifact name"):
        store.acquire_lease("../x", owner="x", ttl_seconds=60)


def test_gc_keeps_live_lease_records_and_drops_superseded_ones(
    store_url: str, tmp_path: Path
) -> None:
    store = open_at(store_url, tmp_path, FakeClock())
    lease = store.acquire_lease("runs/r1", owner="holder", ttl_seconds=TTL)
    for _ in range(3):
        lease.renew()
    done = store.acquire_lease("runs/r2", owner="done", ttl_seconds=TTL)
    done.release()
    before = {e.key for e in store.objects.list(LEASES)}

    report = store.gc(keep_last=1, grace_seconds=0)

    after = {e.key for e in store.objects.list(LEASES)}
    assert after == {"leases/runs/r1/e000000000004.json", "leases/runs/r2/e000000000002.json"}
    assert set(report.deleted_records) == before - after
    assert lease.held and lease.renew().epoch == 5
    assert store.lease_holder("runs/r1") == lease.holder


class Run(threading.Thread):
    """fn() in a thread, keeping its result or exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def outcome(self) -> Any:
        self.join(60)
        assert not self.is_alive(), "still running"
        if self.error is not None:
            raise self.error
        return self.result


# -- N processes racing for one lease -------------------------------------------------------
SPACING = 2.5  # seconds between rounds: each racer reads within 1.5 s, then all claim at once


def racer(url: str, rounds: int, me: str, folder: str) -> None:
    """Signal readiness, wait for 'go', then try each round's lease once at the given moment.
    Every racer reads the lease's state before any of them claims it, so each round is a real
    race of creates; the result file says who won, and whether this racer tried to claim."""
    import storage.coordination.lease

    store = storage.open_store(url, cache_dir=os.path.join(folder, f"cache-{me}"), create=True)
    Path(folder, f"ready-{me}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.01)
    start = float(Path(folder, "go").read_text())
    read, claims = storage.coordination.lease.current_holder, []

    def read_then_wait(objects: object, name: str) -> object:
        found = read(objects, name)  # type: ignore[arg-type]
        time.sleep(max(0.0, start + SPACING * int(name.rpartition("/")[2]) + 1.5 - time.time()))
        return found

    def create(key: str, data: bytes) -> bool:  # records which leases this racer claimed
        claims.append(key.rpartition("/")[0].removeprefix("leases/"))
        return real_create(key, data)

    real_create = store.objects.create
    store.objects.create = create  # type: ignore[method-assign]
    storage.coordination.lease.current_holder = read_then_wait  # type: ignore[assignment]
    results = []
    for r in range(rounds):
        time.sleep(max(0.0, start + SPACING * r - time.time()))
        try:
            store.acquire_lease(f"race/{r}", owner=me, ttl_seconds=60)
            got = "won"
        except storage.LeaseHeldError as exc:
            got = f"held by {exc.holder.owner}"  # type: ignore[union-attr]
        results.append([got, f"race/{r}" in claims])
    Path(folder, f"result-{me}.json").write_text(json.dumps(results))
    # A winner that exited at once would be a holder provably gone, whose lease a slower racer
    # on this host rightly takes over: stay alive until every racer has its results.
    while not Path(folder, "done").exists():
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_of_racing_processes_exactly_one_wins(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url = url_for(request, backend, tmp_path)
    racers, rounds = 6, 4
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, url, str(rounds), f"racer-{i}", str(tmp_path)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stderr=subprocess.PIPE,
        )
        for i in range(racers)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < racers:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    (tmp_path / "go.tmp").write_text(str(time.time() + 0.5))
    (tmp_path / "go.tmp").rename(tmp_path / "go")  # atomic: no racer reads it half written
    while len(list(tmp_path.glob("result-*"))) < racers:
        assert time.monotonic() < deadline + 120 and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    (tmp_path / "done").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]

    results = {
        f"racer-{i}": json.loads((tmp_path / f"result-racer-{i}.json").read_text())
        for i in range(racers)
    }
    for r in range(rounds):
        outcome = {me: got[r][0] for me, got in results.items()}
        claimed = [me for me, got in results.items() if got[r][1]]
        winners = [me for me, got in outcome.items() if got == "won"]
        assert len(winners) == 1, outcome
        assert all(
            got == f"held by {winners[0]}" for me, got in outcome.items() if me != winners[0]
        )
        assert len(claimed) > 1, f"round {r}: no race of creates happened ({claimed})"


if __name__ == "__main__":
    racer(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])


def test_a_killed_holder_on_this_host_need_not_be_waited_out(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its lease behind; a re-run on the same machine sees
    that the holder's process is gone and takes the lease at once (elsewhere: at expiry)."""
    url = (tmp_path / "store").as_uri()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import storage, sys, time; "
                f"s = storage.open_store({url!r}, cache_dir={str(tmp_path / 'c1')!r}, "
                "create=True); "
                "s.acquire_lease('runs/r9', owner='killed run', ttl_seconds=600); "
                "print('held', flush=True); time.sleep(600)"
            ),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    store = storage.open_store(url, cache_dir=tmp_path / "c2", create=True)
    with pytest.raises(storage.LeaseHeldError, match="killed run"):  # alive: held
        store.acquire_lease("runs/r9", owner="re-run", ttl_seconds=60)
    holder.kill()
    holder.wait()
    lease = store.acquire_lease("runs/r9", owner="re-run", ttl_seconds=60)  # no 600 s wait
    assert lease.holder.owner == "re-run"
