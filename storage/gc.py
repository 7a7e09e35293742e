"""Garbage collection: keep the last K versions of each name and every tagged one; delete the
rest, then every manifest and blob no kept version reaches.

Objects that nothing reaches but that are younger than the grace period are kept: they may
belong to a commit still in flight (blobs uploaded, ref not yet created). Refs go first, so no
kept version ever points at a deleted object. Before deleting, refs are listed a second time, so
a version committed while gc ran keeps its objects. What remains unprotected is a commit that
re-uses (dedups against) an object gc is deleting at that very moment: run gc when no writer
re-commits long-collected content, or keep the grace period long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.errors import InvalidInputError
from storage.layout import (
    BLOBS,
    MANIFESTS,
    REFS,
    TAGS,
    blob_sha,
    manifest_digest,
    ref_key,
    split_ref_key,
    split_tag_key,
)
from storage.names import format_ref
from storage.objects import Entry
from storage.version import parse_tag_record

if TYPE_CHECKING:
    from storage.store import Store

log = logging.getLogger(__name__)


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

    def summary(self) -> str:
        """One line for logs and the CLI."""
        verb, swept = ("would delete", "to sweep") if self.dry_run else ("deleted", "swept")
        return (
            f"{verb} {_n(self.deleted_versions, 'version')}, "
            f"{_n(self.deleted_manifests, 'manifest')}, {_n(self.deleted_blobs, 'blob')} "
            f"({self.freed_bytes} bytes); kept {_n(self.kept_versions, 'version')} and "
            f"{_n(self.pending, 'object')} in their grace period; "
            f"{_n(self.swept, 'leftover')} of killed writers {swept}"
        )


def collect_garbage(store: Store, keep_last: int, grace_seconds: float, dry_run: bool) -> GcReport:
    """Run gc on `store` (see the module docstring); the report lists everything touched."""
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise InvalidInputError(
            f"keep_last={keep_last!r}: gc keeps at least the newest version of each name; "
            "pass an integer >= 1"
        )
    if not grace_seconds >= 0:
        raise InvalidInputError(
            f"grace_seconds={grace_seconds!r}: pass a number of seconds >= 0 (default 3600)"
        )
    objects = store.objects
    cutoff = time.time() - grace_seconds

    ref_entries = objects.list(REFS)
    refs = {hit: e for e in ref_entries if (hit := split_ref_key(e.key))}
    tagged = _tagged(store, objects.list(TAGS))
    by_name: dict[str, list[int]] = {}
    for name, number in refs:
        by_name.setdefault(name, []).append(number)
    kept: set[tuple[str, int]] = set()
    for name, numbers in by_name.items():
        kept.update((name, n) for n in sorted(numbers)[-keep_last:])
        kept.update((name, n) for n in numbers if n in tagged.get(name, set()))
    doomed = sorted(set(refs) - kept)

    live_manifests, live_blobs = _reachable(store, kept)
    manifest_entries = {
        d: e for e in objects.list(MANIFESTS) if (d := manifest_digest(e.key)) is not None
    }
    blob_entries = {s: e for e in objects.list(BLOBS) if (s := blob_sha(e.key)) is not None}
    gone_manifests, pending = _unreachable(manifest_entries, live_manifests, cutoff)
    gone_blobs, pending_blobs = _unreachable(blob_entries, live_blobs, cutoff)
    pending += pending_blobs

    # Second look: versions committed while we worked keep their objects.
    fresh = {hit for e in objects.list(REFS) if (hit := split_ref_key(e.key))} - set(refs)
    if fresh:
        more_manifests, more_blobs = _reachable(store, fresh)
        gone_manifests = [d for d in gone_manifests if d not in more_manifests]
        gone_blobs = [s for s in gone_blobs if s not in more_blobs]

    freed = sum(refs[r].size for r in doomed)
    freed += sum(manifest_entries[d].size for d in gone_manifests)
    freed += sum(blob_entries[s].size for s in gone_blobs)
    if not dry_run:
        objects.delete(ref_key(name, n) for name, n in doomed)
        objects.delete(manifest_entries[d].key for d in gone_manifests)
        objects.delete(blob_entries[s].key for s in gone_blobs)
    swept = objects.sweep(cutoff, dry_run)
    report = GcReport(
        dry_run=dry_run,
        kept_versions=tuple(format_ref(name, n) for name, n in sorted(kept)),
        deleted_versions=tuple(format_ref(name, n) for name, n in doomed),
        deleted_manifests=tuple(gone_manifests),
        deleted_blobs=tuple(gone_blobs),
        pending=tuple(sorted(pending)),
        swept=tuple(swept),
        freed_bytes=freed,
    )
    log.info("gc of %s: %s", store.url, report.summary())
    return report


def _n(items: tuple[str, ...], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _tagged(store: Store, entries: Iterable[Entry]) -> dict[str, set[int]]:
    """{name: version numbers some alias points at}."""
    keys = [e.key for e in entries if split_tag_key(e.key)]
    out: dict[str, set[int]] = {}
    for key, data in store.objects.read_many(keys).items():
        hit = split_tag_key(key)
        if data is not None and hit:
            number = parse_tag_record(data, store.objects.where(key))
            out.setdefault(hit[0], set()).add(number)
    return out


def _reachable(store: Store, versions: Iterable[tuple[str, int]]) -> tuple[set[str], set[str]]:
    """(manifest digests, blob sha256s) that the given versions need."""
    manifests: set[str] = set()
    for name, number in versions:
        record = store._record(name, number)
        if record is not None:
            manifests.add(record[0])
    store._load_manifests(sorted(manifests))
    blobs = {entry["sha256"] for d in manifests for entry in store._manifests[d].files.values()}
    return manifests, blobs


def _unreachable(
    entries: dict[str, Entry], live: set[str], cutoff: float
) -> tuple[list[str], list[str]]:
    """(ids old enough to delete, keys kept for the grace period) among unreachable entries."""
    old = sorted(i for i, e in entries.items() if i not in live and e.mtime < cutoff)
    young = sorted(e.key for i, e in entries.items() if i not in live and e.mtime >= cutoff)
    return old, young
