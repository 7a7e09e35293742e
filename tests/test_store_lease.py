"""Leases from create-only records: one holder at a time (of N racing processes exactly one
wins, on file:// and on a real S3), renewal, release, expiry of a crashed holder, a heartbeat
thread, messages that say who holds a lease and until when, and gc keeping live lease records.

The racing processes are functions of this file, run as `python test_store_lease.py ...`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import storage
from storage.layout import LEASES
from storage.version import parse_created

REPO = Path(__file__).resolve().parents[1]
FAST = storage.Timings(gc_ttl_seconds=2.0, clock_skew_seconds=0.05, poll_seconds=0.01)
BACKENDS = ["memory", "file", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://lease-{uuid.uuid4().hex[:8]}"
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    return request.getfixturevalue("s3_store_url")


def open_fast(url: str, tmp_path: Path) -> storage.Store:
    return storage.open_store(url, cache_dir=tmp_path / "cache", timings=FAST, create=True)


def test_one_holder_at_a_time_and_who_it_is(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    lease = store.acquire_lease("runs/r1", owner="run-r1 attempt 1", ttl_seconds=30)

    holder = lease.holder
    assert (holder.owner, holder.host, holder.pid) == (
        "run-r1 attempt 1",
        socket.gethostname(),
        os.getpid(),
    )
    assert holder.acquired == holder.renewed and holder.expires > holder.renewed
    assert lease.held
    with pytest.raises(storage.LeaseHeldError) as info:
        open_fast(url, tmp_path).acquire_lease("runs/r1", owner="run-r1 attempt 2", ttl_seconds=30)
    assert str(info.value) == (
        f"lease 'runs/r1' in {store.url} is held by 'run-r1 attempt 1' (pid {os.getpid()} on "
        f"{socket.gethostname()}, acquired {holder.acquired}, renewed {holder.renewed}) until "
        f"{holder.expires}: wait for that run to finish or its lease to expire (or pass "
        "wait_seconds=), or stop it; a crashed holder's lease lapses at its expiry"
    )
    assert info.value.holder == holder
    assert store.lease_holder("runs/r1") == holder
    other = store.acquire_lease("runs/r2", owner="run-r2", ttl_seconds=30)  # another name
    assert other.held

    lease.release()
    assert not lease.held
    again = store.acquire_lease("runs/r1", owner="run-r1 attempt 2", ttl_seconds=30)
    assert again.holder.owner == "run-r1 attempt 2" and again.held
    lease.release()  # idempotent, and does not touch the new holder's lease
    assert again.held and store.lease_holder("runs/r1") == again.holder


def test_renewal_extends_and_expiry_frees_a_crashed_holders_lease(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    lease = store.acquire_lease("runs/r1", owner="first", ttl_seconds=0.6)
    first_expiry = lease.holder.expires
    time.sleep(0.3)
    renewed = lease.renew()
    assert renewed.expires > first_expiry and renewed.acquired == lease.holder.acquired
    with pytest.raises(storage.LeaseHeldError):
        store.acquire_lease("runs/r1", owner="second", ttl_seconds=5)

    time.sleep(0.8)  # the holder "crashed": no renewal, so the lease lapses
    assert not lease.held
    second = store.acquire_lease("runs/r1", owner="second", ttl_seconds=5)
    assert second.holder.owner == "second"
    with pytest.raises(storage.LeaseLostError, match=r"'first' .* is no longer held"):
        lease.renew()
    with pytest.raises(storage.LeaseLostError):
        lease.check()


def test_a_late_renewal_loses_to_the_new_holder(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    lease = store.acquire_lease("runs/r1", owner="slow", ttl_seconds=0.4)
    time.sleep(0.6)
    taker = store.acquire_lease("runs/r1", owner="taker", ttl_seconds=5)
    lease._safe_until = time.monotonic() + 10  # pretend its clock ran slow: it still renews

    with pytest.raises(storage.LeaseLostError, match="taken over by 'taker'"):
        lease.renew()
    assert taker.held and store.lease_holder("runs/r1") == taker.holder


def test_the_context_manager_renews_in_the_background(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    with store.acquire_lease("runs/r1", owner="long job", ttl_seconds=0.6) as lease:
        time.sleep(1.5)  # 2.5 x ttl
        assert lease.held
        lease.check()
        with pytest.raises(storage.LeaseHeldError):
            store.acquire_lease("runs/r1", owner="intruder", ttl_seconds=5)
    assert not lease.held
    assert store.lease_holder("runs/r1").released  # type: ignore[union-attr]
    assert store.acquire_lease("runs/r1", owner="next", ttl_seconds=5).held


def test_wait_seconds_waits_for_the_holder_to_go(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    first = store.acquire_lease("runs/r1", owner="first", ttl_seconds=0.5)  # never renewed
    lapsed = parse_created(first.holder.expires).timestamp() + FAST.clock_skew_seconds
    lease = store.acquire_lease("runs/r1", owner="patient", ttl_seconds=5, wait_seconds=5)
    # Taken once the first lapsed, not before, and soon after (times as the records hold them:
    # on a loaded machine the first acquire alone can take most of its 0.5 s).
    taken = parse_created(lease.holder.acquired).timestamp()
    assert lapsed - 0.001 <= taken < lapsed + 2.5  # records keep milliseconds
    assert lease.holder.owner == "patient"


def test_lease_input_errors(tmp_path: Path) -> None:
    store = storage.open_store((tmp_path / "s").as_uri(), cache_dir=tmp_path / "c", create=True)
    with pytest.raises(storage.InvalidInputError, match=r"ttl_seconds=5 .* at least twice"):
        store.acquire_lease("runs/r1", owner="x", ttl_seconds=5)  # default skew allowance: 5 s
    with pytest.raises(storage.InvalidInputError, match="lease owner '' is empty"):
        store.acquire_lease("runs/r1", owner="", ttl_seconds=60)
    with pytest.raises(storage.InvalidInputError, match="artifact name"):
        store.acquire_lease("../x", owner="x", ttl_seconds=60)


def test_gc_keeps_live_lease_records_and_drops_superseded_ones(url: str, tmp_path: Path) -> None:
    store = open_fast(url, tmp_path)
    lease = store.acquire_lease("runs/r1", owner="holder", ttl_seconds=30)
    for _ in range(3):
        lease.renew()
    done = store.acquire_lease("runs/r2", owner="done", ttl_seconds=30)
    done.release()
    before = {e.key for e in store.objects.list(LEASES)}

    report = store.gc(keep_last=1, grace_seconds=0)

    after = {e.key for e in store.objects.list(LEASES)}
    assert after == {"leases/runs/r1/e000000000004.json", "leases/runs/r2/e000000000002.json"}
    assert set(report.deleted_records) == before - after
    assert lease.held and lease.renew().epoch == 5
    assert store.lease_holder("runs/r1") == lease.holder


# -- N processes racing for one lease -------------------------------------------------------
SPACING = 2.5  # seconds between rounds: each racer reads within 1.5 s, then all claim at once


def racer(url: str, rounds: int, me: str, folder: str) -> None:
    """Signal readiness, wait for 'go', then try each round's lease once at the given moment.
    Every racer reads the lease's state before any of them claims it, so each round is a real
    race of creates; the result file says who won, and whether this racer tried to claim."""
    import storage.lease

    store = storage.open_store(url, cache_dir=os.path.join(folder, f"cache-{me}"), create=True)
    Path(folder, f"ready-{me}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.01)
    start = float(Path(folder, "go").read_text())
    read, claims = storage.lease.current_holder, []

    def read_then_wait(objects: object, name: str) -> object:
        found = read(objects, name)  # type: ignore[arg-type]
        time.sleep(max(0.0, start + SPACING * int(name.rpartition("/")[2]) + 1.5 - time.time()))
        return found

    def claim(lease: storage.Lease, epoch: int, released: bool) -> bool:
        claims.append(lease.name)
        return real_claim(lease, epoch, released)

    real_claim = storage.Lease._claim
    storage.lease.current_holder = read_then_wait  # type: ignore[assignment]
    storage.Lease._claim = claim  # type: ignore[method-assign]
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
@pytest.mark.parametrize("backend", ["file", pytest.param("s3", marks=pytest.mark.s3)])
def test_of_racing_processes_exactly_one_wins(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url = (
        (tmp_path / "store").as_uri()
        if backend == "file"
        else request.getfixturevalue("s3_store_url")
    )
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
    store = open_fast(url, tmp_path)
    with pytest.raises(storage.LeaseHeldError, match="killed run"):  # alive: held
        store.acquire_lease("runs/r9", owner="re-run", ttl_seconds=5)
    holder.kill()
    holder.wait()
    lease = store.acquire_lease("runs/r9", owner="re-run", ttl_seconds=5)  # no 600 s wait
    assert lease.holder.owner == "re-run"
