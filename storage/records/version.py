"""`Version`: one committed artifact, as callers see it; and the records about it.

The ref record (`refs/<name>/v000003.json`) holds the manifest digest and the commit time; the
time lives there, not in the manifest, so identical content always has one digest. A retraction
record (`refs/<name>/v000003.retracted.json`, create-only) withdraws a version with a reason:
it stays readable by number, but `latest` and `valid_versions` skip it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.errors import IntegrityError
from storage.records.layout import is_sha256, ref_key
from storage.records.manifest import Manifest, canonical_json
from storage.records.refnames import format_ref, version_label


@dataclass(frozen=True)
class Retraction:
    """Why and when a version was withdrawn."""

    reason: str
    retracted: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Version:
    """A committed version of an artifact: what it holds, where it came from, when."""

    name: str
    number: int
    digest: str  # sha256 of the manifest
    kind: str
    meta: Mapping[str, Any]
    parents: tuple[str, ...]  # refs "name@v000003" of the artifacts this was made from
    files: Mapping[str, Mapping[str, Any]]  # rel path -> {"sha256": hex, "size": bytes}
    created: str  # ISO 8601, UTC, from the ref record
    shape: str = "directory"  # "file": `get` returns the single file; else the directory
    store_url: str = ""  # root URL of the store (no credentials), for `uri`
    retraction: Retraction | None = None  # set when the version was withdrawn (`retract`)

    def __hash__(self) -> int:  # meta and files are dicts: hash the identity instead
        return hash((self.store_url, self.name, self.number, self.digest))

    @property
    def ref(self) -> str:
        """'name@v000003': how to cite this version as a parent."""
        return format_ref(self.name, self.number)

    @property
    def label(self) -> str:
        """'v000003'."""
        return version_label(self.number)

    @property
    def uri(self) -> str:
        """Human URL of the ref record, for reports: s3://bucket/prefix/refs/<name>/v000003.json."""
        return f"{self.store_url.rstrip('/')}/{ref_key(self.name, self.number)}"

    @property
    def retracted(self) -> bool:
        """True when the version was withdrawn: readable by number, skipped by `latest`."""
        return self.retraction is not None

    @property
    def size(self) -> int:
        """Total bytes of the files."""
        return sum(int(entry["size"]) for entry in self.files.values())


def iso_stamp(moment: datetime) -> str:
    """'2026-11-25T10:45:28.131Z': UTC, millisecond ISO 8601, as records store times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ref_record(name: str, number: int, digest: str, created: datetime) -> bytes:
    """Bytes of the create-only record that commits version `number` of `name`."""
    stamp = iso_stamp(created)
    return canonical_json({"name": name, "number": number, "manifest": digest, "created": stamp})


def parse_ref_record(data: bytes, name: str, number: int, where: str) -> tuple[str, str]:
    """(manifest digest, created) of the record at `where`, checked against its key."""
    try:
        record = json.loads(data)
        digest, created = record["manifest"], str(record["created"])
        ok = record["name"] == name and record["number"] == number and is_sha256(digest)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise IntegrityError(
            f"{where} is not a valid version record of {format_ref(name, number)}: the store "
            "was edited by hand or damaged; delete that record or restore it from a backup"
        )
    return digest, created


def make_version(
    manifest: Manifest,
    number: int,
    digest: str,
    created: str,
    store_url: str,
    retraction: Retraction | None = None,
) -> Version:
    """The `Version` of a parsed manifest committed as `number` at `created`."""
    return Version(
        name=manifest.name,
        number=number,
        digest=digest,
        kind=manifest.kind,
        meta=manifest.meta,
        parents=manifest.parents,
        files=manifest.files,
        created=created,
        shape=manifest.shape,
        store_url=store_url,
        retraction=retraction,
    )


def parse_created(created: str) -> datetime:
    """The datetime of a record's ISO 'created' stamp (UTC)."""
    return datetime.fromisoformat(created.replace("Z", "+00:00"))


def tag_record(name: str, alias: str, number: int, updated: datetime) -> bytes:
    """Bytes of the mutable alias record `alias` of `name` -> version `number`."""
    stamp = iso_stamp(updated)
    return canonical_json({"name": name, "alias": alias, "version": number, "updated": stamp})


def parse_tag_record(data: bytes, where: str) -> int:
    """The version number the alias record at `where` points at."""
    try:
        number = json.loads(data)["version"]
        ok = isinstance(number, int) and not isinstance(number, bool) and number >= 1
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise IntegrityError(
            f"alias record {where} is not valid: tag the version again (`lightrnn store tag`) "
            "to rewrite it"
        )
    return number


def retraction_record(name: str, number: int, reason: str, when: datetime) -> bytes:
    """Bytes of the create-only record that withdraws version `number` of `name`."""
    stamp = iso_stamp(when)
    return canonical_json({"name": name, "number": number, "reason": reason, "retracted": stamp})


def parse_retraction_record(data: bytes, name: str, number: int, where: str) -> Retraction:
    """The retraction stored at `where`, checked against its key."""
    try:
        record = json.loads(data)
        found = Retraction(reason=str(record["reason"]), retracted=str(record["retracted"]))
        ok = record["name"] == name and record["number"] == number
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise IntegrityError(
            f"{where} is not a valid retraction record of {format_ref(name, number)}: the store "
            "was edited by hand or damaged; delete that record (the version reappears) or "
            "retract the version again"
        )
    return found
