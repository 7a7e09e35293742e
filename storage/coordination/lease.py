"""Leases: at most one holder of a named lease at a time, from create-only records alone.

    leases/<name>/e000000000007.json    epoch 7: {owner, host, pid, acquired, renewed, expires}

Every change of a lease claims the next epoch number with a create-only write, and the newest
epoch says who holds it: acquiring (when the newest epoch is released or expired), renewing (the
holder claims the next epoch with a later expiry) and releasing (the holder claims the next
epoch, marked released). Of racers for one epoch exactly one create succeeds; a winner then lists
the epochs and holds the lease only if its epoch is the newest (gc deletes superseded epochs,
so a slow racer could re-create an old number: it is never the newest). A holder that fails to
renew in time loses the lease, and so does one whose next epoch someone else claimed after its
expiry. No mutable pointer is compare-and-swapped (If-Match is unreliable on S3-compatible
servers; docs/design.md#leases). Expiry assumes host clocks agree within
`Timings.clock_skew_seconds`: others treat a lease as expired only that long after its
`expires`, and a holder treats it as lost that long before.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage.backends.objects import Objects
from storage.coordination.markers import Timings
from storage.errors import (
    IntegrityError,
    InvalidInputError,
    LeaseHeldError,
    LeaseLostError,
    StoreError,
)
from storage.processes import gone, host_name, pid_namespace
from storage.records.layout import lease_key, lease_prefix, split_lease_key
from storage.records.manifest import canonical_json
from storage.records.refnames import check_name
from storage.records.version import iso_stamp, parse_created
from storage.redact import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds (or last held) a lease, for messages and decisions."""

    name: str  # the lease's name
    owner: str  # what the holder called itself, e.g. a run id
    host: str
    pid: int
    acquired: str  # ISO 8601 UTC: when this holder first got the lease
    renewed: str  # ISO 8601 UTC: its latest renewal
    expires: str  # ISO 8601 UTC: when it lapses unless renewed
    epoch: int
    released: bool = False
    token: str = field(default="", repr=False)  # tells this holding apart from any other
    pid_namespace: str = ""  # with host and pid: lets a process on the same host see it died

    def active(self, skew: float, now: float) -> bool:
        """True while no one else may take the lease: not released, not past expiry + skew
        at wall time `now` (the caller's clock: e.g. `store.timings.clock.now()`)."""
        return not self.released and now <= parse_created(self.expires).timestamp() + skew

    def abandoned(self) -> bool:
        """True when the holder provably died (same host and pid namespace, no such process):
        a killed run's lease need not be waited out."""
        return not self.released and gone(self.host, self.pid_namespace, self.pid)

    def describe(self) -> str:
        """ "'run-7' (pid 812 on gpu-3, acquired ..., renewed ...) until 2026-...Z"."""
        return (
            f"{self.owner!r} (pid {self.pid} on {self.host}, acquired {self.acquired}, "
            f"renewed {self.renewed}) until {self.expires}"
        )


def current_holder(objects: Objects, name: str) -> LeaseHolder | None:
    """The newest epoch of lease `name` (maybe released or expired), or None if never taken."""
    while True:
        epoch = _newest_epoch(objects, name)
        if epoch == 0:
            return None
        key = lease_key(name, epoch)
        try:
            return _parse(objects.read(key), name, epoch, objects.where(key))
        except FileNotFoundError:  # removed since the listing: look again
            continue


class Lease:
    """A lease this process holds: `renew()` it within its ttl, `release()` it when done, or use
    it as a context manager, which renews it from a background thread every ttl/3."""

    def __init__(
        self, objects: Objects, timings: Timings, name: str, owner: str, ttl: float
    ) -> None:
        self.objects, self.timings = objects, timings
        self.name, self.owner, self.ttl = name, owner, ttl
        self._token = uuid.uuid4().hex
        self._holder: LeaseHolder | None = None
        self._safe_until = 0.0  # monotonic: the lease is ours until then
        self._ended = ""  # why it is no longer held: "released", or how it was lost
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Lease({self.name!r}, owner={self.owner!r}, held={self.held})"

    @property
    def holder(self) -> LeaseHolder:
        """This holding's record: owner, host, pid, acquired, renewed, expires."""
        assert self._holder is not None, "a Lease exists only once acquired"
        return self._holder

    @property
    def held(self) -> bool:
        """True while the lease is certainly still ours."""
        with self._lock:
            return not self._ended and self.timings.clock.monotonic() < self._safe_until

    def check(self) -> None:
        """Raise LeaseLostError unless the lease is still held (call it before guarded work)."""
        if not self.held:
            raise LeaseLostError(self._lost_message())

    def renew(self) -> LeaseHolder:
        """Extend the lease by its ttl from now; LeaseLostError if it was lost meanwhile."""
        with self._lock:
            self.check()
            if self._claim(self.holder.epoch + 1, released=False):
                return self.holder
            taker = current_holder(self.objects, self.name)
            self._ended = f"taken over by {taker.describe()}" if taker else "taken over"
            raise LeaseLostError(self._lost_message())

    def release(self) -> None:
        """Give the lease up now (so others need not wait for its expiry); idempotent."""
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        with self._lock:
            if self._ended:
                return
            held = self.timings.clock.monotonic() < self._safe_until
            self._ended = "released"
            if held and not self._claim(self.holder.epoch + 1, released=True):
                log.warning("lease %r was taken over before it was released", self.name)

    def __enter__(self) -> Lease:
        self._heartbeat = threading.Thread(target=self._beat, name=f"lease-{self.name}")
        self._heartbeat.daemon = True
        self._heartbeat.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            self.release()
        except StoreError as error:  # the lease lapses at its expiry anyway
            if kind is None:
                raise
            log.warning("could not release lease %r: %s", self.name, error)

    # -- inside -----------------------------------------------------------------------------
    def _claim(self, epoch: int, released: bool) -> bool:
        """Create epoch `epoch` for this holding; True when it is then the newest epoch."""
        clock = self.timings.clock
        started, now = clock.monotonic(), datetime.fromtimestamp(clock.now(), UTC)
        expires = now if released else now + timedelta(seconds=self.ttl)
        acquired = self._holder.acquired if self._holder else iso_stamp(now)
        holder = LeaseHolder(
            name=self.name,
            owner=self.owner,
            host=host_name(),
            pid=os.getpid(),
            pid_namespace=pid_namespace(),
            acquired=acquired,
            renewed=iso_stamp(now),
            expires=iso_stamp(expires),
            epoch=epoch,
            released=released,
            token=self._token,
        )
        if not self.objects.create(lease_key(self.name, epoch), _record(holder)):
            return False
        if _newest_epoch(self.objects, self.name) != epoch:
            return False  # a higher epoch exists: ours was a stale number
        self._holder = holder
        self._safe_until = started + self.ttl - self.timings.clock_skew_seconds
        return True

    def _beat(self) -> None:
        while not self.timings.clock.wait(self._stop, self.ttl / 3):
            try:
                self.renew()
            except LeaseLostError as exc:
                log.error("%s", exc)
                return
            except StoreError as exc:  # retried at the next beat while the lease lasts
                log.warning("could not renew lease %r (will retry): %s", self.name, exc)

    def _lost_message(self) -> str:
        why = self._ended or f"it expired at {self.holder.expires} before it was renewed"
        return (
            f"lease {self.name!r} of {self.owner!r} in {self.objects.url} is no longer held "
            f"({why}): stop the work it guarded, and acquire it again before going on"
        )


def acquire(
    objects: Objects,
    timings: Timings,
    name: str,
    owner: str,
    ttl_seconds: float,
    wait_seconds: float = 0.0,
) -> Lease:
    """Take lease `name` for `owner` for `ttl_seconds`, waiting up to `wait_seconds` for the
    current holder to release it or let it expire; else LeaseHeldError naming the holder."""
    check_name(name)
    skew, clock = timings.clock_skew_seconds, timings.clock
    if not isinstance(owner, str) or not owner.strip():
        raise InvalidInputError(f"lease owner {owner!r} is empty: pass e.g. the run's id")
    if not ttl_seconds >= 2 * skew:
        raise InvalidInputError(
            f"ttl_seconds={ttl_seconds!r} for lease {name!r}: pass at least twice the "
            f"allowed clock skew ({2 * skew:g} s), e.g. 60"
        )
    if not wait_seconds >= 0:
        raise InvalidInputError(f"wait_seconds={wait_seconds!r}: pass a number of seconds >= 0")
    deadline = clock.monotonic() + wait_seconds
    while True:
        top = current_holder(objects, name)
        active = top is not None and top.active(skew, clock.now())
        if top is not None and active and top.abandoned():
            log.warning("lease %r: its holder %s is gone; taking it over", name, top.describe())
        elif top is not None and active:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise LeaseHeldError(
                    f"lease {name!r} in {objects.url} is held by {top.describe()}: wait for "
                    "that run to finish or its lease to expire (or pass wait_seconds=), or stop "
                    "it; a crashed holder's lease lapses at its expiry",
                    top,
                )
            clock.sleep(min(left, max(0.05, min(1.0, ttl_seconds / 10))))
            continue
        lease = Lease(objects, timings, name, owner, float(ttl_seconds))
        with lease._lock:
            if lease._claim((top.epoch if top else 0) + 1, released=False):
                log.info("lease %r acquired by %s", name, lease.holder.describe())
                return lease


def _newest_epoch(objects: Objects, name: str) -> int:
    entries = objects.list(lease_prefix(name), recursive=False)
    epochs = [hit[1] for e in entries if (hit := split_lease_key(e.key)) and hit[0] == name]
    return max(epochs, default=0)


def _record(holder: LeaseHolder) -> bytes:
    return canonical_json(
        {
            "name": holder.name,
            "epoch": holder.epoch,
            "owner": holder.owner,
            "host": holder.host,
            "pid": holder.pid,
            "acquired": holder.acquired,
            "renewed": holder.renewed,
            "expires": holder.expires,
            "released": holder.released,
            "token": holder.token,
            "pid_namespace": holder.pid_namespace,
        }
    )


def _parse(data: bytes, name: str, epoch: int, where: str) -> LeaseHolder:
    try:
        record = json.loads(data)
        holder = LeaseHolder(
            name=record["name"],
            owner=str(record["owner"]),
            host=str(record["host"]),
            pid=int(record["pid"]),
            acquired=str(record["acquired"]),
            renewed=str(record["renewed"]),
            expires=str(record["expires"]),
            epoch=int(record["epoch"]),
            released=bool(record["released"]),
            token=str(record["token"]),
            pid_namespace=str(record.get("pid_namespace", "")),
        )
        parse_created(holder.expires)
        ok = holder.name == name and holder.epoch == epoch
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise IntegrityError(
            f"lease record {where} is damaged: delete it (the lease's previous epoch, if any, "
            "then decides who holds it)"
        )
    return holder
