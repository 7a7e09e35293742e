"""Committing a version: the writer's side of the commit/gc protocol (see `markers.py`).

Inside its pending marker, a commit uploads the blobs that are not there yet (or not whole),
writes the manifest, then creates the next numbered ref record with create-only semantics. The
ref is the commit point: a writer killed earlier leaves no visible version, only objects that gc
removes once its marker is stale. On a refused create the writer takes the next number, so
concurrent writers of one name each get their own version and none is lost. No mutable pointer
is compare-and-swapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from storage.coordination.markers import Intent, Timings
from storage.errors import ConflictError
from storage.records.layout import blob_key, manifest_key, ref_key
from storage.records.manifest import Manifest
from storage.records.reader import Listing, Records
from storage.records.version import Version, iso_stamp, make_version, ref_record
from storage.redact import get_logger

log = get_logger(__name__)

MAX_CLAIMS = 1000  # version numbers one commit tries before giving up (ConflictError)
RELIST_AFTER = 4  # refused claims in a row before re-listing to jump to the newest number

Source = Path | bytes  # where a blob's content comes from: a local file or bytes in hand


def commit(
    records: Records, timings: Timings, manifest: Manifest, blobs: Mapping[str, Source]
) -> Version:
    """Commit `manifest` (whose blobs come from `blobs`, by sha256) as the next version of its
    name; or return the existing version that holds exactly this manifest (not retracted)."""
    objects, name, digest = records.objects, manifest.name, manifest.digest
    listing = records.listing(name)
    existing = find_same(records, name, digest, listing)
    if existing is not None:
        log.info("%s: same content as %s, not committed again", name, existing.ref)
        return existing
    sizes = {entry["sha256"]: int(entry["size"]) for entry in manifest.files.values()}
    with Intent(objects, timings, blobs=sizes, manifests=[digest]):
        for sha, source in blobs.items():
            key = blob_key(sha)
            if objects.size(key) == sizes[sha]:
                continue  # dedup; a blob of the wrong size (damaged) is uploaded again
            if isinstance(source, bytes):
                objects.write(key, source)
            else:
                objects.upload(key, source, sizes[sha])
        if objects.size(manifest_key(digest)) is None:
            objects.write(manifest_key(digest), manifest.to_bytes())
        records.remember(digest, manifest)
        newest = max(listing.numbers, default=0)
        number, created = claim_version(records, timings, name, digest, newest)
    version = make_version(manifest, number, digest, created, objects.url)
    log.info("committed %s (%d bytes) to %s", version.ref, version.size, objects.url)
    return version


def claim_version(
    records: Records, timings: Timings, name: str, digest: str, newest: int
) -> tuple[int, str]:
    """Create the next free ref record of `name` -> `digest` (the commit point), trying from
    `newest` + 1 up: (number, created)."""
    objects = records.objects
    number = newest + 1
    for attempt in range(1, MAX_CLAIMS + 1):
        now = datetime.fromtimestamp(timings.clock.now(), UTC)
        if objects.create(ref_key(name, number), ref_record(name, number, digest, now)):
            return number, iso_stamp(now)
        number += 1
        if attempt % RELIST_AFTER == 0:
            number = max(number, max(records.listing(name).numbers, default=0) + 1)
    raise ConflictError(
        f"could not claim a version number for {name!r} in {objects.url} after {MAX_CLAIMS} "
        "tries (other writers took every one): retry later, or commit under distinct names"
    )


def find_same(records: Records, name: str, digest: str, listing: Listing) -> Version | None:
    """The newest version of `name` that is not retracted and holds manifest `digest`."""
    refs = records.refs(name, listing.valid)
    same = [n for n, (d, _) in refs.items() if d == digest]
    return records.version(name, max(same), refs[max(same)], None) if same else None
