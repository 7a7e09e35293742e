"""`Store`: put, get, list, tag, retract and collect versioned artifacts at one URL; leases.

The store is a thin front: committing is `coordination/commit.py`, reading records
`records/reader.py`, the local copies `cache.py`, collection `coordination/gc.py`, and the
protocol that makes commits, tags and retractions safe against a concurrent gc is
`coordination/markers.py`. Leases are `coordination/lease.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.backends.objects import Objects
from storage.blobs import check_blob, hash_file
from storage.cache import Cache
from storage.coordination.commit import Source, commit
from storage.coordination.gc import GcReport, collect_garbage
from storage.coordination.lease import Lease, LeaseHolder, acquire, current_holder
from storage.coordination.markers import DEFAULT_PENDING_TTL, Intent, Timings
from storage.errors import IntegrityError, InvalidInputError, NotFoundError
from storage.inputs import check_filename, collect_files
from storage.records.layout import (
    REFS,
    blob_key,
    ref_key,
    refs_prefix,
    retraction_key,
    split_ref_key,
    tag_key,
)
from storage.records.manifest import Manifest, check_meta
from storage.records.reader import Records
from storage.records.refnames import (
    LATEST,
    check_alias,
    check_kind,
    check_name,
    format_ref,
    parse_ref,
    version_label,
    version_number,
)
from storage.records.version import Version, retraction_record, tag_record
from storage.redact import get_logger, redact

log = get_logger(__name__)


class Store:
    """A versioned, content-addressed artifact store at one URL, read through a local cache."""

    def __init__(self, objects: Objects, cache: Cache, timings: Timings | None = None) -> None:
        self.objects = objects  # low-level access: for tools and tests, not for pipeline code
        self.cache = cache
        self.timings = timings if timings is not None else Timings()
        self.records = Records(objects)  # refs, manifests, tags, retractions (cached)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def url(self) -> str:
        """Root URL of the store, without credentials."""
        return self.objects.url

    # -- writing ----------------------------------------------------------------------------
    def put(
        self,
        name: str,
        path: str | os.PathLike[str],
        meta: Mapping[str, Any] | None = None,
        parents: Sequence[str | Version] = (),
        kind: str = "artifact",
    ) -> Version:
        """Commit a file or a directory as the next version of `name` (or return the existing
        version when the same content, meta and parents are already committed)."""
        check_name(name)
        kind, meta, parents = check_kind(kind), check_meta(meta), self._check_parents(parents)
        sources, shape = collect_files(Path(path))
        files: dict[str, dict[str, Any]] = {}
        blobs: dict[str, Source] = {}
        for rel, local in sources.items():
            sha, size = hash_file(local)
            files[rel] = {"sha256": sha, "size": size}
            blobs[sha] = local
        manifest = Manifest(name, kind, shape, files, meta, parents)
        return commit(self.records, self.timings, manifest, blobs)

    def put_bytes(
        self,
        name: str,
        filename: str,
        data: bytes,
        meta: Mapping[str, Any] | None = None,
        parents: Sequence[str | Version] = (),
        kind: str = "artifact",
    ) -> Version:
        """Commit `data` as the single file `filename` of the next version of `name`."""
        check_name(name)
        if not isinstance(filename, str) or "/" in filename:
            raise InvalidInputError(
                f"filename {filename!r} for {name!r} must be one path segment such as "
                "'metrics.json'; put a directory to store several files"
            )
        check_filename(filename, f"put_bytes({name!r})")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError(
                f"data for {name!r} is {type(data).__name__}, not bytes: encode it first, "
                "e.g. json.dumps(obj).encode()"
            )
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        manifest = Manifest(
            name=name,
            kind=check_kind(kind),
            shape="file",
            files={filename: {"sha256": sha, "size": len(data)}},
            meta=check_meta(meta),
            parents=self._check_parents(parents),
        )
        return commit(self.records, self.timings, manifest, {sha: data})

    def _check_parents(self, parents: Sequence[str | Version]) -> tuple[str, ...]:
        if isinstance(parents, str | Version):
            parents = [parents]
        refs: list[str] = []
        for parent in parents:
            ref = parent.ref if isinstance(parent, Version) else parent
            name, number = parse_ref(ref)
            if self.objects.size(ref_key(name, number)) is None:
                raise NotFoundError(
                    f"parent {ref!r} is not in store {self.url}: put it first, or pass the "
                    "Version.ref that put returned"
                )
            refs.append(format_ref(name, number))
        return tuple(dict.fromkeys(refs))  # keep order, drop repeats

    # -- reading ----------------------------------------------------------------------------
    def get(self, name: str, ref: int | str = LATEST) -> Path:
        """A verified local copy: the file if a single file was put, else the directory."""
        version = self.resolve(name, ref)
        if version.retracted:
            log.warning("reading %s, which is retracted: %s", version.ref, version.retraction)
        tree = self.cache.tree(version, self.objects)
        if version.shape == "file":
            (rel,) = version.files
            return tree / rel
        return tree

    def read_bytes(self, name: str, ref: int | str = LATEST, filename: str | None = None) -> bytes:
        """The verified bytes of one file of a version (the only one, unless `filename`)."""
        version = self.resolve(name, ref)
        if filename is None:
            if len(version.files) != 1:
                raise InvalidInputError(
                    f"{version.ref} holds {len(version.files)} files: pass filename=, one of "
                    f"{_listing(sorted(version.files))}"
                )
            (filename,) = version.files
        entry = version.files.get(filename)
        if entry is None:
            raise NotFoundError(
                f"{version.ref} has no file {filename!r}: its files are "
                f"{_listing(sorted(version.files))}"
            )
        key = blob_key(entry["sha256"])
        try:
            data = self.objects.read(key)
        except FileNotFoundError:
            raise IntegrityError(
                f"{version.ref}: blob {self.objects.where(key)} is missing; re-put the artifact "
                "from its source, or restore the blob from a backup"
            ) from None
        return check_blob(data, entry["sha256"], int(entry["size"]), self.objects, version.ref)

    def resolve(self, name: str, ref: int | str = LATEST) -> Version:
        """The version `ref` names: 'latest' (the newest that is not retracted), a number (3,
        '3', 'v3') or an alias ('best'). A retracted version resolves by number or alias, and
        says so (`Version.retracted`)."""
        check_name(name)
        if ref == LATEST:
            listing = self.records.listing(name)
            if not listing.valid:
                raise self._no_versions(name) if not listing.numbers else self._all_retracted(name)
            number = listing.valid[-1]
            record, retraction = self.records.ref(name, number), None
        else:
            found = version_number(ref)
            number = found if found is not None else self._alias_target(name, str(ref))
            record = self.records.ref(name, number)
            retraction = self.records.retraction(name, number) if record else None
        if record is None:
            raise NotFoundError(
                f"{format_ref(name, number)} is not in store {self.url}: {self._what_exists(name)}"
            )
        return self.records.version(name, number, record, retraction)

    def exists(self, name: str) -> bool:
        """True when `name` has a version that is not retracted, i.e. when `resolve(name)`
        ('latest') finds one."""
        return bool(self.records.listing(check_name(name)).valid)

    def versions(self, name: str) -> list[Version]:
        """Every committed version of `name`, retracted ones included, oldest first."""
        return self.records.versions(check_name(name))

    def valid_versions(self, name: str) -> list[Version]:
        """The versions of `name` that are not retracted, newest first (where to resume from)."""
        return [v for v in reversed(self.versions(name)) if not v.retracted]

    def names(self, prefix: str = "") -> list[str]:
        """Names that have at least one version, sorted; only those starting with `prefix`."""
        folder = prefix.rpartition("/")[0]
        try:
            start = refs_prefix(check_name(folder)) if folder else REFS
        except InvalidInputError:
            return []
        found = {split_ref_key(e.key) for e in self.objects.list(start)}
        return sorted({hit[0] for hit in found if hit and hit[0].startswith(prefix)})

    def tags(self, name: str) -> dict[str, int]:
        """{alias: version number} of `name`."""
        return self.records.tags(check_name(name))

    # -- aliases, retractions and collection ------------------------------------------------
    def tag(self, name: str, ref: int | str, alias: str) -> Version:
        """Point the mutable alias `alias` of `name` at the version `ref` names."""
        check_alias(alias)
        version = self.resolve(name, ref)
        with Intent(self.objects, self.timings, keep=[(name, version.number)]):
            self._still_there(version)  # a gc that ran before our marker may have taken it
            record = tag_record(name, alias, version.number, datetime.now(UTC))
            self.objects.write(tag_key(name, alias), record)
        log.info("tagged %s as %s", version.ref, alias)
        return version

    def untag(self, name: str, alias: str) -> None:
        """Remove the alias `alias` of `name` (the version itself stays)."""
        key = tag_key(check_name(name), check_alias(alias))
        if self.objects.size(key) is None:
            raise NotFoundError(
                f"{name!r} has no alias {alias!r} in {self.url}: {self._what_exists(name)}"
            )
        self.objects.delete([key])

    def retract(self, name: str, ref: int | str, reason: str) -> Version:
        """Withdraw the version `ref` names, for `reason`: `latest`, `exists` and
        `valid_versions` skip it from now on, it still resolves by number. Create-only: a
        version is retracted once, and the first reason stays."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(
                f"reason {reason!r} for retracting {name!r} is empty: say why, e.g. "
                "'loss diverged at step 1200'"
            )
        version = self.resolve(name, ref)
        if not version.retracted:
            with Intent(self.objects, self.timings, retract=[(name, version.number)]):
                self._still_there(version)
                record = retraction_record(name, version.number, redact(reason), datetime.now(UTC))
                self.objects.create(retraction_key(name, version.number), record)
        retraction = self.records.retraction(name, version.number)
        if retraction is None:  # gc took the version (and its retraction) meanwhile
            self._still_there(version)
        log.info("retracted %s: %s", version.ref, retraction)
        return dataclasses.replace(version, retraction=retraction)

    def gc(
        self,
        keep_last: int,
        grace_seconds: float = 3600,
        dry_run: bool = False,
        pending_ttl_seconds: float = DEFAULT_PENDING_TTL,
    ) -> GcReport:
        """Delete versions beyond the newest `keep_last` non-retracted ones of each name
        (tagged ones stay) and the objects nothing kept or in flight reaches, once older than
        `grace_seconds`; markers of killed writers after `pending_ttl_seconds`. See
        `coordination/gc.py`."""
        return collect_garbage(
            self.records, self.timings, keep_last, grace_seconds, dry_run, pending_ttl_seconds
        )

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(
        self, name: str, owner: str, ttl_seconds: float, wait_seconds: float = 0.0
    ) -> Lease:
        """Take the lease `name` for `owner` (e.g. a run id) for `ttl_seconds`; LeaseHeldError
        (naming the holder and its expiry) if someone else holds it after `wait_seconds`.
        Renew it, release it, or use it as a context manager (renewed in the background)."""
        return acquire(self.objects, self.timings, name, owner, ttl_seconds, wait_seconds)

    def lease_holder(self, name: str) -> LeaseHolder | None:
        """The latest holder of lease `name` (check `.active(...)`), or None if never taken."""
        return current_holder(self.objects, check_name(name))

    # -- messages ---------------------------------------------------------------------------
    def _still_there(self, version: Version) -> None:
        if self.objects.size(ref_key(version.name, version.number)) is None:
            raise NotFoundError(
                f"{version.ref} was deleted from {self.url} by gc just now: "
                f"{self._what_exists(version.name)}"
            )

    def _alias_target(self, name: str, alias: str) -> int:
        check_alias(alias)
        number = self.records.alias(name, alias)
        if number is None:
            raise NotFoundError(
                f"{name!r} has no version or alias {alias!r} in {self.url}: "
                f"{self._what_exists(name)}"
            )
        return number

    def _no_versions(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"no artifact named {name!r} in store {self.url}: check the name "
            f"(`lightrnn store ls {self.url}` lists them), or put it first"
        )

    def _all_retracted(self, name: str) -> NotFoundError:
        numbers = self.records.listing(name).numbers
        return NotFoundError(
            f"every version of {name!r} in store {self.url} is retracted "
            f"({_listing([version_label(n) for n in numbers])}): put a new version, or read a "
            f"retracted one by number (`lightrnn store log {self.url} {name}` shows why)"
        )

    def _what_exists(self, name: str) -> str:
        listing = self.records.listing(name)
        if not listing.numbers:
            return f"{name!r} has no versions at all (`lightrnn store ls {self.url}` lists names)"
        tags = self.tags(name)
        versions = _listing([version_label(n) for n in listing.numbers])
        aliases = _listing(sorted(tags)) if tags else "none"
        return f"versions are {versions}; aliases: {aliases}; or use 'latest'"


def _listing(items: Sequence[str], limit: int = 12) -> str:
    """'a, b, c' or 'a, b, ... (40 in all)': short enough for one error line."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[: limit // 2])}, ..., {', '.join(items[-limit // 2 :])} " + (
        f"({len(items)} in all)"
    )
