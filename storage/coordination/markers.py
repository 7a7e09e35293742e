"""The commit/gc protocol: markers that let commits and gc run at the same time, safely.

    pending/<token>.json   a commit (or tag, or retraction) in flight, and what it relies on
    gc/<token>.json        a gc in flight, with an expiry it renews while it runs

Writer (`Intent`): (w1) create its pending marker, naming the blobs and manifest it will use
(or the version it will tag or retract); (w2) list gc/ and wait until every gc marker in that
listing is gone or expired; (w3) check which blobs are there and upload the others, write the
manifest; (w4) create the ref (the commit point); (w5) delete its pending marker.

Collector (`GcMarker`, then `gc.py`): (g0) create its gc marker; (g1) list blobs and manifests,
and pick the candidates, unreachable and older than the grace period; (g2) list the pending
markers, THEN the refs, retractions and tags; live = what the kept refs reach, plus what every
non-stale pending marker names; (g3) delete the candidates that are not live, checking before
each delete batch that its marker has not expired (abort otherwise); (g4) delete its marker.

Why nothing a writer relies on is ever deleted. Every step is one request to a store with strong
read-after-write and list-after-write consistency (local files, memory, AWS S3 since 2020,
SeaweedFS), so of two requests the later one sees the effect of the earlier. Take a writer W and
a gc G, and compare W's listing of gc/ (w2) with G's creation of its marker (g0):
- g0 before w2: W sees G's marker and does nothing at w3 until G's marker is gone (G deleted it
  after its last delete) or expired (G stopped deleting before that, see below). So W's checks
  at w3 see every deletion G made, and W uploads again whatever G removed.
- w2 before g0: then w1 < w2 < g0 < g2, so G's listing of pending/ finds W's marker, unless W
  already deleted it (w5); but w5 comes after w4, so then G's listing of refs, made after its
  listing of pending/, finds W's ref, which is the newest of its name and so kept. Either way
  everything W uses is live for G.
Expiry: a gc marker holds `expires` = G's clock at the start of its latest write + ttl. G deletes
only while its monotonic clock says it is more than 2 x clock_skew before that, and a renewal
counts only if it finished before the previous expiry had passed (otherwise G aborts): so G's
last delete is issued before any writer, whose clock is at most clock_skew off, treats the marker
as expired. This rests on two assumptions, written down here: host clocks agree within
`clock_skew_seconds`, and a gc process is not frozen for longer than that between its expiry
check and its delete request. Every clock reading goes through `Timings.clock`
(storage/coordination/clock.py),
so tests check both at their bounds with fake clocks.
Stale markers: a writer killed between w1 and w5 leaves its marker. It protects its objects
until it is older than the pending TTL (`gc(pending_ttl_seconds=...)`, default 24 h), after
which gc removes it and its orphans. Its age is the gc's clock minus the store's own time of the
marker (file mtime or S3 LastModified), so a gc whose clock runs ahead of the store's removes it
up to that difference early: a commit that takes longer than the pending TTL less the clock skew
between w1 and w4 is not protected.
Temporary files and multipart uploads are swept on the same TTL (or when provably unused), never
by the grace period alone, so a live writer's upload is never pulled from under it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from storage.backends.objects import Objects
from storage.coordination.clock import SYSTEM_CLOCK, Clock
from storage.errors import IntegrityError, InvalidInputError, StoreError
from storage.records.layout import GC, PENDING, gc_key, pending_key
from storage.records.manifest import canonical_json
from storage.records.refnames import format_ref, parse_ref
from storage.redact import get_logger

log = get_logger(__name__)

DEFAULT_PENDING_TTL = 24 * 3600.0  # a pending marker older than this belongs to a dead writer


@dataclass(frozen=True)
class Timings:
    """Clocks of the commit/gc protocol and of leases, in seconds."""

    gc_ttl_seconds: float = 60.0  # a gc marker not renewed for this long belongs to a dead gc
    clock_skew_seconds: float = 5.0  # how far the clocks of two hosts may disagree
    poll_seconds: float = 0.1  # how often a writer looks whether a gc it waits for is done
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)  # tests pass a fake one

    def __post_init__(self) -> None:
        if not (self.clock_skew_seconds >= 0 and self.gc_ttl_seconds > 4 * self.clock_skew_seconds):
            raise InvalidInputError(
                f"Timings(gc_ttl_seconds={self.gc_ttl_seconds!r}, clock_skew_seconds="
                f"{self.clock_skew_seconds!r}): the gc marker's ttl must exceed four times the "
                "clock skew (a gc renews it every ttl/4 and stops 2 x skew before it expires)"
            )


@dataclass(frozen=True)
class PendingWork:
    """What one pending marker protects from gc."""

    key: str
    blobs: frozenset[str]  # sha256 of blobs the commit uses
    manifests: frozenset[str]  # manifest digests the commit uses
    keep: frozenset[tuple[str, int]]  # versions being tagged: kept whatever keep_last says
    retract: frozenset[tuple[str, int]]  # versions being retracted: count as retracted


class Intent:
    """A pending marker (w1, w2 on entry; w5 on exit): wrap every step that relies on objects
    gc could otherwise delete, or that changes what gc must keep."""

    def __init__(
        self,
        objects: Objects,
        timings: Timings,
        blobs: Iterable[str] = (),
        manifests: Iterable[str] = (),
        keep: Iterable[tuple[str, int]] = (),
        retract: Iterable[tuple[str, int]] = (),
    ) -> None:
        self.objects, self.timings = objects, timings
        self.key = pending_key(uuid.uuid4().hex)
        self.record = canonical_json(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "created": timings.clock.now(),
                "blobs": sorted(set(blobs)),
                "manifests": sorted(set(manifests)),
                "keep": sorted({format_ref(*ref) for ref in keep}),
                "retract": sorted({format_ref(*ref) for ref in retract}),
            }
        )

    def __enter__(self) -> Intent:
        self.objects.create(self.key, self.record)  # w1: a fresh random key, always created
        try:
            wait_for_collectors(self.objects, self.timings)  # w2
        except BaseException:
            self._withdraw()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.objects.delete([self.key])  # w5
        else:
            self._withdraw()

    def _withdraw(self) -> None:
        """Remove the marker after a failure, without hiding that failure."""
        try:
            self.objects.delete([self.key])
        except StoreError as exc:  # it goes stale and gc removes it
            log.warning("could not remove %s: %s", self.objects.where(self.key), exc)


def wait_for_collectors(objects: Objects, timings: Timings) -> None:
    """w2: wait until every gc marker listed now is gone or expired (later ones see us)."""
    clock = timings.clock
    for key in [e.key for e in objects.list(GC, recursive=False) if e.key.endswith(".json")]:
        announced = False
        while True:
            try:
                data = objects.read(key)
            except FileNotFoundError:
                break
            if clock.now() > _expiry(data, objects.where(key)) + timings.clock_skew_seconds:
                break
            if not announced:
                log.info("waiting for gc %s to finish before committing", objects.where(key))
                announced = True
            clock.sleep(timings.poll_seconds)


def read_pending(objects: Objects, stale_cutoff: float) -> tuple[list[PendingWork], list[str]]:
    """(what live pending markers protect, keys of stale ones: older than `stale_cutoff`)."""
    entries = [e for e in objects.list(PENDING, recursive=False) if e.key.endswith(".json")]
    stale = [e.key for e in entries if e.mtime < stale_cutoff]
    found = objects.read_many([e.key for e in entries if e.mtime >= stale_cutoff])
    return [_parse_pending(k, d, objects) for k, d in found.items() if d is not None], stale


def _parse_pending(key: str, data: bytes, objects: Objects) -> PendingWork:
    try:
        record = json.loads(data)
        return PendingWork(
            key=key,
            blobs=frozenset(str(s) for s in record["blobs"]),
            manifests=frozenset(str(d) for d in record["manifests"]),
            keep=frozenset(parse_ref(r) for r in record["keep"]),
            retract=frozenset(parse_ref(r) for r in record["retract"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(
            f"pending-commit marker {objects.where(key)} is damaged ({exc}), so gc cannot tell "
            "what it protects: delete it once no commit is running, then run gc again"
        ) from None


def _expiry(data: bytes, where: str) -> float:
    try:
        return float(json.loads(data)["expires"])
    except (KeyError, TypeError, ValueError):
        log.warning("gc marker %s is damaged: treated as expired", where)
        return 0.0


class GcMarker:
    """A gc marker (g0 on entry, g4 on exit), renewed by a heartbeat thread; `check` before
    each delete batch raises once the marker may have expired in a writer's eyes."""

    def __init__(self, objects: Objects, timings: Timings) -> None:
        self.objects, self.timings = objects, timings
        self.key = gc_key(uuid.uuid4().hex)
        self._safe_until = 0.0  # monotonic time after which this gc must not delete
        self._lapsed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="gc-marker", daemon=True)

    def __enter__(self) -> GcMarker:
        self._renew(first=True)
        self._heartbeat.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._stop.set()
        self._heartbeat.join()
        try:
            self.objects.delete([self.key])
        except StoreError:
            if kind is None:
                raise
            log.warning("could not remove gc marker %s: it expires", self.objects.where(self.key))

    def check(self) -> None:
        """Raise unless this gc may still delete: its marker is certainly alive for writers."""
        with self._lock:
            ok = not self._lapsed and self.timings.clock.monotonic() < self._safe_until
        if not ok:
            raise StoreError(
                f"gc of {self.objects.url} stopped before deleting more: it could not renew its "
                f"marker within {self.timings.gc_ttl_seconds:g} s (store too slow or the process "
                "was paused), so writers may already rely on what it meant to delete. Nothing "
                "unsafe was deleted: run gc again"
            )

    def _renew(self, first: bool = False) -> None:
        timings = self.timings
        ttl, skew, clock = timings.gc_ttl_seconds, timings.clock_skew_seconds, timings.clock
        started, now = clock.monotonic(), clock.now()
        record = canonical_json(
            {"host": socket.gethostname(), "pid": os.getpid(), "expires": now + ttl}
        )
        if first:
            self.objects.create(self.key, record)
        else:
            self.objects.write(self.key, record)
        with self._lock:
            if first or clock.monotonic() < self._safe_until:
                self._safe_until = started + ttl - 2 * skew
            else:
                self._lapsed = True  # it landed too late: a writer may have gone ahead

    def _beat(self) -> None:
        while not self.timings.clock.wait(self._stop, self.timings.gc_ttl_seconds / 4):
            with self._lock:
                if self._lapsed:
                    return
            with contextlib.suppress(StoreError):  # retried next beat, or gc aborts at check
                self._renew()


def dead_collectors(objects: Objects, timings: Timings) -> list[str]:
    """Keys of gc markers whose gc is certainly gone (expired, with the clock margin)."""
    entries = [e.key for e in objects.list(GC, recursive=False) if e.key.endswith(".json")]
    now = timings.clock.now()
    found = objects.read_many(entries)
    return [
        key
        for key, data in found.items()
        if data is not None
        and now > _expiry(data, objects.where(key)) + 2 * timings.clock_skew_seconds
    ]
