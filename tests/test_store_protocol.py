"""The commit/gc protocol (storage/coordination/markers.py), one interleaving at a time: a
writer and a gc are each stopped at a chosen step while the other runs, on memory://, file://
and a real S3.

Setup of each case: version 1 of 'a' holds PAYLOAD, version 2 does not, so gc(keep_last=1)
finds PAYLOAD's blob unreachable, while a writer commits PAYLOAD again as 'b' (a dedup)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock

import storage
import storage.coordination.markers
from storage.backends.local import TMP
from storage.coordination.markers import DEFAULT_PENDING_TTL, GcMarker
from storage.errors import StoreError
from storage.records.layout import GC, PENDING, blob_key

FAST = storage.Timings(gc_ttl_seconds=1.0, clock_skew_seconds=0.05, poll_seconds=0.01)
TTL, SKEW = 60.0, 5.0  # the gc marker's ttl and the allowed clock skew (the defaults)
EPS = 0.25  # a step just past a bound (exact in binary)
PAYLOAD = os.urandom(5000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def timed(clock: FakeClock) -> storage.Timings:
    return storage.Timings(gc_ttl_seconds=TTL, clock_skew_seconds=SKEW, clock=clock)


def open_at(url: str, clock: FakeClock, cache: Path) -> storage.Store:
    """The store at `url` as a host whose clock is `clock` sees it."""
    return storage.open_store(url, cache_dir=cache, timings=timed(clock), create=True)


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the `store` fixture (and so of its gc): it moves only when a test says."""
    return FakeClock()


@pytest.fixture
def store(store_url: str, tmp_path: Path, clock: FakeClock) -> storage.Store:
    store = open_at(store_url, clock, tmp_path / "cache")
    store.put_bytes("a", "x.bin", PAYLOAD)
    store.put_bytes("a", "x.bin", b"something else")
    return store


class Pause:
    """Stops the thread that calls it until `go` is set; `reached` says it got there."""

    def __init__(self) -> None:
        self.reached, self.go = threading.Event(), threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        assert self.go.wait(60), "never released"


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


def pause_first_call(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, before: bool = False
) -> Pause:
    """Make the first call of owner.name stop at a Pause, after it ran (or `before`)."""
    pause, real, calls = Pause(), getattr(owner, name), []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if before and len(calls) == 1:
            pause()
        result = real(*args, **kwargs)
        if not before and len(calls) == 1:
            pause()
        return result

    monkeypatch.setattr(owner, name, wrapper)
    return pause


def readable(store: storage.Store, name: str, tmp_path: Path) -> bytes:
    fresh = storage.open_store(
        store.url, cache_dir=tmp_path / f"fresh-{uuid.uuid4().hex}", create=True
    )
    return fresh.get(name).read_bytes()


def test_a_commit_waits_for_a_gc_that_started_before_it(
    store: storage.Store, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gc has picked its candidates (PAYLOAD's blob among them) and stops before deleting
    paused_gc = pause_first_call(monkeypatch, GcMarker, "check")
    gc = Run(lambda: store.gc(keep_last=1, grace_seconds=0))
    assert paused_gc.reached.wait(30)

    writer = Run(lambda: store.put_bytes("b", "x.bin", PAYLOAD))
    clock.settle(writer)
    assert clock.waiting(writer), "the writer went ahead while a gc that saw no marker ran"
    paused_gc.go.set()

    assert SHA in gc.outcome().deleted_blobs  # gc deleted it, the writer then uploaded it again
    clock.advance(1.0)  # the writer looks again: the gc's marker is gone
    assert writer.outcome().ref == "b@v000001"
    assert readable(store, "b", tmp_path) == PAYLOAD


def test_a_gc_that_started_after_a_commit_keeps_what_the_commit_uses(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the writer has announced itself and seen no gc; it stops before its dedup check
    paused_writer = pause_first_call(
        monkeypatch, storage.coordination.markers, "wait_for_collectors"
    )
    writer = Run(lambda: store.put_bytes("b", "x.bin", PAYLOAD))
    assert paused_writer.reached.wait(30)

    report = store.gc(keep_last=1, grace_seconds=0)

    assert report.deleted_versions == ("a@v000001",)
    assert SHA not in report.deleted_blobs
    assert blob_key(SHA) in report.protected
    paused_writer.go.set()
    assert writer.outcome().ref == "b@v000001"
    assert readable(store, "b", tmp_path) == PAYLOAD
    # once the commit is done its ref protects the blob, without any marker
    assert SHA not in store.gc(keep_last=1, grace_seconds=0).deleted_blobs


def test_a_gc_whose_marker_lapsed_deletes_nothing(
    store: storage.Store, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused_gc = pause_first_call(monkeypatch, GcMarker, "check", before=True)
    gc = Run(lambda: store.gc(keep_last=1, grace_seconds=0))
    assert paused_gc.reached.wait(30)

    # the gc process freezes (its heartbeat too) for longer than its marker's ttl; the writer,
    # on another host, waits the marker out, then goes ahead and re-uses the blob
    writer_clock = FakeClock(clock.now())
    writer_store = open_at(store.url, writer_clock, tmp_path / "writer")
    writer = Run(lambda: writer_store.put_bytes("b", "x.bin", PAYLOAD))
    writer_clock.settle(writer)
    assert writer_clock.waiting(writer)
    clock.advance(TTL + SKEW + EPS, wake=False)
    writer_clock.advance(TTL + SKEW + EPS)
    assert writer.outcome().ref == "b@v000001"
    paused_gc.go.set()  # the gc resumes: its marker may have expired, so it deletes nothing

    with pytest.raises(StoreError) as info:
        gc.outcome()
    assert store.url in str(info.value) and "run gc again" in str(info.value)
    assert [v.number for v in store.versions("a")] == [1, 2]  # nothing was deleted
    assert readable(store, "b", tmp_path) == PAYLOAD


# -- the stated assumptions, at their bounds ------------------------------------------------
@pytest.mark.parametrize("offset", [SKEW, 0.0, -SKEW], ids=["ahead", "same", "behind"])
def test_at_the_allowed_skew_a_gc_deletes_nothing_after_a_waiting_writer_goes_ahead(
    store: storage.Store,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offset: float,
) -> None:
    """The writer's clock is `offset` ahead of the gc's, and the gc's renewals have stopped
    (store too slow, or frozen). The gc deletes at the last moment its marker lets it (ttl - 2 x
    skew after its last renewal, by its monotonic clock), and its deletes may land up to one
    skew later (a process paused between check and request). The writer waits at w2 until its
    clock is past the marker's `expires` + skew. At |offset| = skew that is still after the
    gc's last delete, so the writer sees the blob gone and uploads it again."""
    writer_clock = FakeClock(clock.now() + offset)
    writer_store = open_at(store.url, writer_clock, tmp_path / "writer")

    def both(seconds: float) -> None:  # the gc's heartbeat does not run: no renewal
        clock.advance(seconds, wake=False)
        writer_clock.advance(seconds)

    checking = pause_first_call(monkeypatch, GcMarker, "check", before=True)
    sweeping = pause_first_call(monkeypatch, store.objects, "sweep", before=True)  # after g3
    gc = Run(lambda: store.gc(keep_last=1, grace_seconds=0))
    assert checking.reached.wait(30)
    (marker,) = [e.key for e in store.objects.list(GC)]
    expires = json.loads(store.objects.read(marker))["expires"]
    assert expires == clock.now() + TTL
    writer = Run(lambda: writer_store.put_bytes("b", "x.bin", PAYLOAD))  # after g2: unseen
    writer_clock.settle(writer)
    assert writer_clock.waiting(writer)

    both(TTL - 2 * SKEW - EPS)  # the gc's last moment: it passes its check and deletes
    checking.go.set()
    assert sweeping.reached.wait(30)
    both(SKEW)  # ... and its deletes may land this much later
    writer_clock.settle(writer)
    assert writer_clock.waiting(writer)
    both(expires + SKEW - writer_clock.now())  # the writer's clock reads expires + skew
    writer_clock.settle(writer)
    assert writer_clock.waiting(writer)
    both(EPS)
    assert writer.outcome().ref == "b@v000001"
    sweeping.go.set()

    assert SHA in gc.outcome().deleted_blobs  # gc deleted it, the writer then uploaded it again
    assert readable(store, "b", tmp_path) == PAYLOAD


def test_a_commit_in_flight_is_protected_until_its_marker_is_pending_ttl_old(
    store: storage.Store, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer stopped between w1 and w4 (killed, or very slow): its pending marker protects
    what it names until the marker is `pending_ttl_seconds` old, measured by the gc's clock
    against the store's own time of the marker (file mtime, S3 LastModified): so a gc whose
    clock runs ahead of the store's by the skew removes it that much early."""
    paused = pause_first_call(monkeypatch, storage.coordination.markers, "wait_for_collectors")
    writer = Run(lambda: store.put_bytes("b", "x.bin", PAYLOAD))
    assert paused.reached.wait(30)
    (entry,) = store.objects.list(PENDING)

    clock.advance(entry.mtime + DEFAULT_PENDING_TTL - 0.001 - clock.now())  # 1 ms before
    report = store.gc(keep_last=1, grace_seconds=0)
    assert blob_key(SHA) in report.protected and entry.key not in report.deleted_records

    clock.advance(EPS)
    report = store.gc(keep_last=1, grace_seconds=0)
    assert SHA in report.deleted_blobs and entry.key in report.deleted_records
    paused.go.set()
    assert writer.outcome().ref == "b@v000001"  # it had not uploaded yet: it does so now
    assert readable(store, "b", tmp_path) == PAYLOAD


def test_a_tag_in_flight_keeps_its_version(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused_tag = pause_first_call(monkeypatch, storage.coordination.markers, "wait_for_collectors")
    tagging = Run(lambda: store.tag("a", 1, "best"))
    assert paused_tag.reached.wait(30)

    report = store.gc(keep_last=1, grace_seconds=0)

    assert report.deleted_versions == ()
    assert "a@v000001" in report.kept_versions
    paused_tag.go.set()
    assert tagging.outcome().number == 1
    assert storage.open_store(store.url, cache_dir=tmp_path / "c2", create=True).read_bytes(
        "a", "best"
    ) == (PAYLOAD)


def test_a_retraction_in_flight_does_not_count_toward_keep_last(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = pause_first_call(monkeypatch, storage.coordination.markers, "wait_for_collectors")
    retracting = Run(lambda: store.retract("a", 2, "bad"))
    assert paused.reached.wait(30)

    assert store.gc(keep_last=1, grace_seconds=0).deleted_versions == ()  # v1 stays
    paused.go.set()
    assert retracting.outcome().retracted
    assert store.resolve("a").number == 1
    assert readable(store, "a", tmp_path) == PAYLOAD


def test_a_tag_of_a_version_gc_just_deleted_says_so(
    store: storage.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = store.resolve("a", 1)
    store.gc(keep_last=1, grace_seconds=0)
    monkeypatch.setattr(store, "resolve", lambda name, ref: version)  # resolved before gc ran
    with pytest.raises(storage.NotFoundError, match=r"a@v000001 was deleted from .* by gc"):
        store.tag("a", 1, "best")
    with pytest.raises(storage.NotFoundError, match=r"a@v000001 was deleted from .* by gc"):
        store.retract("a", 1, "bad")


# -- leftovers of writers: swept only when provably abandoned, or stale -------------------------
def test_temporary_files_of_live_writers_are_never_swept(tmp_path: Path) -> None:
    store = storage.open_store((tmp_path / "s").as_uri(), cache_dir=tmp_path / "c", create=True)
    store.put_bytes("a", "x.bin", b"x")
    tmp = tmp_path / "s" / TMP
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    mine = store.objects._writer  # this (live) process, this host
    names = {
        "live": f"{'1' * 32}.{mine}",
        "dead": f"{'2' * 32}.{dead}.{mine.split('.', 1)[1]}",
        "other-host": f"{'3' * 32}.{dead}.{mine.split('.')[1]}.elsewhere",
        "old-format": f"{'4' * 32}.{dead}",
    }
    hour_ago = time.time() - 3600
    for name in names.values():
        (tmp / name).write_bytes(b"partial")
        os.utime(tmp / name, (hour_ago, hour_ago))

    swept = store.gc(keep_last=1, grace_seconds=0).swept

    assert swept == (f"{TMP}{names['dead']}",)  # provably abandoned: same host, no such pid
    assert store.gc(keep_last=1, grace_seconds=0, pending_ttl_seconds=7200).swept == ()
    left = store.gc(keep_last=1, grace_seconds=0, pending_ttl_seconds=1800).swept
    assert sorted(left) == sorted(f"{TMP}{n}" for k, n in names.items() if k != "dead")


@pytest.mark.s3
def test_a_multipart_upload_a_commit_in_flight_names_is_not_aborted(s3_store_url: str) -> None:
    store = storage.open_store(s3_store_url, timings=FAST, create=True)
    objects = store.objects
    bucket, _, prefix = objects.root.partition("/")
    sha = "ab" + "c" * 62
    upload = objects.fs.call_s3(
        "create_multipart_upload", Bucket=bucket, Key=f"{prefix}/{blob_key(sha)}"
    )
    with storage.coordination.markers.Intent(objects, FAST, blobs=[sha]):
        assert store.gc(keep_last=1, grace_seconds=0).swept == ()  # its writer is alive
    assert store.gc(keep_last=1, grace_seconds=0).swept == (f"{blob_key(sha)} (multipart upload)",)
    listed = objects.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=f"{prefix}/")
    assert upload["UploadId"] not in {u["UploadId"] for u in listed.get("Uploads", [])}
