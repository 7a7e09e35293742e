"""Garbage collection: keep the newest versions of each name, every tagged one, and everything
a commit in flight relies on; delete the rest.

Per name, gc keeps the newest versions until `keep_last` of them are not retracted (so retracted
versions do not count, and the ones among them stay for forensics), every tagged version, and
always the newest (version numbers are never reused). Then it deletes every manifest and blob
that no kept version reaches and that no live pending marker names, once older than the grace
period. It runs inside its own gc marker (see `markers.py` for the protocol and why it is safe
under any interleaving with commits, on file stores and on S3), so the grace period is no longer
what keeps commits safe: even 0 is safe. Refs go first (and, on file stores, durably), so no
kept version ever points at a deleted object. Also removed: retraction records of deleted
versions, superseded lease records (never a lease's newest), pending markers older than the
pending TTL, markers of dead gcs, and leftovers of killed writers (see `Objects.sweep`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from storage.backends.objects import Entry
from storage.coordination.markers import (
    GcMarker,
    PendingWork,
    Timings,
    dead_collectors,
    read_pending,
)
from storage.errors import InvalidInputError
from storage.records.layout import (
    BLOBS,
    LEASES,
    MANIFESTS,
    REFS,
    blob_key,
    blob_sha,
    manifest_digest,
    ref_key,
    retraction_key,
    split_lease_key,
    split_ref_key,
    split_retraction_key,
)
from storage.records.reader import Records
from storage.records.refnames import format_ref
from storage.redact import get_logger

log = get_logger(__name__)

DELETE_BATCH = 1000  # keys per delete request on S3; gc checks its marker before each batch
Version = tuple[str, int]  # (name, number)


@dataclass(frozen=True)
class GcReport:
    """What a gc run deleted (or, with dry_run, would delete) and what it kept."""

    dry_run: bool
    kept_versions: tuple[str, ...]  # refs "name@v000003"
    deleted_versions: tuple[str, ...]  # refs "name@v000003"
    deleted_manifests: tuple[str, ...]  # digests
    deleted_blobs: tuple[str, ...]  # sha256 digests
    pending: tuple[str, ...]  # keys of unreachable objects still within the grace period
    swept: tuple[str, ...]  # leftovers of killed writers (temporary files, multipart uploads)
    freed_bytes: int
    protected: tuple[str, ...] = ()  # keys of unreachable objects a commit in flight names
    deleted_records: tuple[str, ...] = ()  # keys: stale markers, old lease epochs, retractions

    def summary(self) -> str:
        """One line for logs and the CLI."""
        verb, swept, removed = ("deleted", "swept", "removed")
        if self.dry_run:
            verb, swept, removed = ("would delete", "to sweep", "to remove")
        return (
            f"{verb} {_n(self.deleted_versions, 'version')}, "
            f"{_n(self.deleted_manifests, 'manifest')}, {_n(self.deleted_blobs, 'blob')} "
            f"({self.freed_bytes} bytes); kept {_n(self.kept_versions, 'version')}, "
            f"{_n(self.pending, 'object')} in their grace period and "
            f"{_n(self.protected, 'object')} that commits in flight use; "
            f"{_n(self.swept, 'leftover')} of killed writers {swept}; "
            f"{_n(self.deleted_records, 'stale record')} {removed}"
        )


def collect_garbage(
    records: Records,
    timings: Timings,
    keep_last: int,
    grace_seconds: float,
    dry_run: bool,
    pending_ttl_seconds: float,
) -> GcReport:
    """Run gc (see the module docstring); the report lists everything touched."""
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise InvalidInputError(
            f"keep_last={keep_last!r}: gc keeps at least the newest version of each name; "
            "pass an integer >= 1"
        )
    for label, value, default in (
        ("grace_seconds", grace_seconds, "3600"),
        ("pending_ttl_seconds", pending_ttl_seconds, "86400"),
    ):
        if not value >= 0:
            raise InvalidInputError(
                f"{label}={value!r}: pass a number of seconds >= 0 (default {default})"
            )
    objects = records.objects
    with GcMarker(objects, timings) as marker:  # g0
        now = timings.clock.now()
        cutoff, stale_cutoff = now - grace_seconds, now - pending_ttl_seconds
        # g1: the candidates
        manifest_entries = _by_id(objects.list(MANIFESTS), manifest_digest)
        blob_entries = _by_id(objects.list(BLOBS), blob_sha)
        # g2: pending markers first, then refs: see markers.py for why this order
        work, stale_markers = read_pending(objects, stale_cutoff)
        ref_entries = objects.list(REFS)
        refs = {hit: e for e in ref_entries if (hit := split_ref_key(e.key))}
        retracted = {hit for e in ref_entries if (hit := split_retraction_key(e.key))}
        kept = _kept(refs, retracted, records.tagged(), work, keep_last)
        doomed = sorted(set(refs) - kept)
        in_flight = {r for w in work for r in w.retract}  # left for the next gc
        retractions = sorted(
            r for r in retracted if (r not in refs or r in doomed) and r not in in_flight
        )

        reached_manifests, reached_blobs = _reachable(records, kept)
        named_manifests = {d for w in work for d in w.manifests}
        named_blobs = {s for w in work for s in w.blobs}
        gone_manifests, pending, protected = _sort_out(
            manifest_entries, reached_manifests, cutoff, named_manifests
        )
        gone_blobs, pending_blobs, protected_blobs = _sort_out(
            blob_entries, reached_blobs, cutoff, named_blobs
        )
        stale_records = [
            *(retraction_key(name, n) for name, n in retractions),
            *_superseded_leases(objects.list(LEASES)),
            *stale_markers,
            *dead_collectors(objects, timings),
        ]

        freed = sum(refs[r].size for r in doomed)
        freed += sum(manifest_entries[d].size for d in gone_manifests)
        freed += sum(blob_entries[s].size for s in gone_blobs)
        if not dry_run:  # g3: refs first, so no kept version points at a deleted object
            for batch in (
                [ref_key(name, n) for name, n in doomed],
                stale_records,
                [manifest_entries[d].key for d in gone_manifests],
                [blob_entries[s].key for s in gone_blobs],
            ):
                for start in range(0, len(batch), DELETE_BATCH):
                    marker.check()
                    objects.delete(batch[start : start + DELETE_BATCH])
        swept = objects.sweep(cutoff, stale_cutoff, {blob_key(s) for s in named_blobs}, dry_run)
    report = GcReport(
        dry_run=dry_run,
        kept_versions=tuple(format_ref(name, n) for name, n in sorted(kept)),
        deleted_versions=tuple(format_ref(name, n) for name, n in doomed),
        deleted_manifests=tuple(gone_manifests),
        deleted_blobs=tuple(gone_blobs),
        pending=tuple(sorted(pending + pending_blobs)),
        swept=tuple(swept),
        freed_bytes=freed,
        protected=tuple(sorted(protected + protected_blobs)),
        deleted_records=tuple(stale_records),
    )
    log.info("gc of %s: %s", objects.url, report.summary())
    return report


def _n(items: tuple[str, ...], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _by_id(entries: Iterable[Entry], ident: Callable[[str], str | None]) -> dict[str, Entry]:
    """{id: entry} of the entries whose key `ident` recognises (strays are left alone)."""
    return {i: e for e in entries if (i := ident(e.key)) is not None}


def _kept(
    refs: dict[Version, Entry],
    retracted: set[Version],
    tagged: dict[str, set[int]],
    work: list[PendingWork],
    keep_last: int,
) -> set[Version]:
    """Per name: newest versions until `keep_last` are not retracted (a retraction in flight
    counts), plus tagged ones, ones being tagged, and always the newest."""
    retracted = retracted | {r for w in work for r in w.retract}
    by_name: dict[str, list[int]] = {}
    for name, number in refs:
        by_name.setdefault(name, []).append(number)
    kept = {ref for w in work for ref in w.keep if ref in refs}
    for name, numbers in by_name.items():
        valid = 0
        for number in sorted(numbers, reverse=True):
            if valid >= keep_last:
                break
            kept.add((name, number))
            valid += (name, number) not in retracted
        kept.update((name, n) for n in numbers if n in tagged.get(name, set()))
    return kept


def _reachable(records: Records, versions: Iterable[Version]) -> tuple[set[str], set[str]]:
    """(manifest digests, blob sha256s) that the given versions need."""
    manifests: set[str] = set()
    for name, number in versions:
        record = records.ref(name, number)
        if record is not None:
            manifests.add(record[0])
    found = records.manifests(sorted(manifests))
    blobs = {entry["sha256"] for m in found.values() for entry in m.files.values()}
    return manifests, blobs


def _sort_out(
    entries: dict[str, Entry], reached: set[str], cutoff: float, named: set[str]
) -> tuple[list[str], list[str], list[str]]:
    """Of the entries no kept version reaches: (ids to delete, keys kept for the grace period,
    keys kept because a commit in flight names them)."""
    unreachable = [(i, e) for i, e in entries.items() if i not in reached]
    young = sorted(e.key for _, e in unreachable if e.mtime >= cutoff)
    protected = sorted(e.key for i, e in unreachable if e.mtime < cutoff and i in named)
    old = sorted(i for i, e in unreachable if e.mtime < cutoff and i not in named)
    return old, young, protected


def _superseded_leases(entries: Iterable[Entry]) -> list[str]:
    """Keys of lease records below their lease's newest epoch (the newest always stays)."""
    newest: dict[str, int] = {}
    found = [(hit, e.key) for e in entries if (hit := split_lease_key(e.key))]
    for (name, epoch), _ in found:
        newest[name] = max(epoch, newest.get(name, 0))
    return sorted(key for (name, epoch), key in found if epoch < newest[name])
