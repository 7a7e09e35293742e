"""`Store`: put, get, list, tag and collect versioned artifacts at one URL.

Commit protocol (DESIGN section 5): upload the blobs that are not there yet, write the manifest,
then create the next numbered ref record with create-only semantics; the ref is the commit point,
so a writer killed earlier leaves no visible version, only orphans that `gc` removes after its
grace period. On a refused create the writer takes the next number: concurrent writers of one
name each get their own version and none is lost. No mutable pointer is compare-and-swapped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.blobs import check_blob, hash_file
from storage.cache import Cache
from storage.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from storage.gc import GcReport, collect_garbage
from storage.inputs import check_filename, collect_files
from storage.layout import (
    REFS,
    blob_key,
    manifest_key,
    ref_key,
    refs_prefix,
    split_ref_key,
    tag_key,
    tags_prefix,
)
from storage.manifest import Manifest, check_meta, parse_manifest
from storage.names import (
    LATEST,
    check_alias,
    check_kind,
    check_name,
    format_ref,
    parse_ref,
    version_label,
    version_number,
)
from storage.objects import Objects
from storage.version import (
    Version,
    iso_stamp,
    make_version,
    parse_ref_record,
    parse_tag_record,
    ref_record,
    tag_record,
)

log = logging.getLogger(__name__)

MAX_CLAIMS = 1000  # version numbers one commit tries before giving up (ConflictError)
RELIST_AFTER = 4  # refused claims in a row before re-listing to jump to the newest number

Source = Path | bytes  # where a blob's content comes from: a local file or bytes in hand


class Store:
    """A versioned, content-addressed artifact store at one URL, read through a local cache."""

    def __init__(self, objects: Objects, cache: Cache) -> None:
        self.objects = objects  # low-level access: for tools and tests, not for pipeline code
        self.cache = cache
        self._records: dict[tuple[str, int], tuple[str, str]] = {}  # immutable: safe to keep
        self._manifests: dict[str, Manifest] = {}  # immutable: safe to keep

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
        return self._commit(manifest, blobs)

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
        return self._commit(manifest, {sha: data})

    def _commit(self, manifest: Manifest, blobs: Mapping[str, Source]) -> Version:
        digest = manifest.digest
        existing = self._find_digest(manifest.name, digest)
        if existing is not None:
            log.info("%s: same content as %s, not committed again", manifest.name, existing.ref)
            return existing
        sizes = {entry["sha256"]: int(entry["size"]) for entry in manifest.files.values()}
        for sha, source in blobs.items():
            key = blob_key(sha)
            if self.objects.size(key) == sizes[sha]:
                continue  # dedup; a blob of the wrong size (damaged) is uploaded again
            if isinstance(source, bytes):
                self.objects.write(key, source)
            else:
                self.objects.upload(key, source, sizes[sha])
        if self.objects.size(manifest_key(digest)) is None:
            self.objects.write(manifest_key(digest), manifest.to_bytes())
        self._manifests[digest] = manifest
        number, created = self._publish(manifest.name, digest)
        version = make_version(manifest, number, digest, created, self.url)
        log.info("committed %s (%d bytes) to %s", version.ref, version.size, self.url)
        return version

    def _publish(self, name: str, digest: str) -> tuple[int, str]:
        """Create the next free ref record of `name` -> `digest`: the commit point."""
        numbers = self._numbers(name)
        number = max(numbers, default=0) + 1
        for attempt in range(1, MAX_CLAIMS + 1):
            now = datetime.now(UTC)
            record = ref_record(name, number, digest, now)
            if self.objects.create(ref_key(name, number), record):
                created = iso_stamp(now)
                self._records[(name, number)] = (digest, created)
                return number, created
            number += 1
            if attempt % RELIST_AFTER == 0:
                number = max(number, max(self._numbers(name), default=0) + 1)
        raise ConflictError(
            f"could not claim a version number for {name!r} in {self.url} after {MAX_CLAIMS} "
            "tries (other writers took every one): retry later, or commit under distinct names"
        )

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
        """The version `ref` names: 'latest', a number (3, '3', 'v3') or an alias ('best')."""
        check_name(name)
        if ref == LATEST:
            numbers = self._numbers(name)
            if not numbers:
                raise self._no_versions(name)
            number = max(numbers)
        else:
            found = version_number(ref)
            number = found if found is not None else self._alias_target(name, str(ref))
        record = self._record(name, number)
        if record is None:
            raise NotFoundError(
                f"{format_ref(name, number)} is not in store {self.url}: {self._what_exists(name)}"
            )
        return self._version(name, number, *record)

    def exists(self, name: str) -> bool:
        """True when `name` has at least one committed version."""
        return bool(self._numbers(check_name(name)))

    def versions(self, name: str) -> list[Version]:
        """Every committed version of `name`, oldest first (empty when there is none)."""
        records = self._records_of(check_name(name))
        self._load_manifests([digest for digest, _ in records.values()])
        return [self._version(name, n, *records[n]) for n in sorted(records)]

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
        entries = self.objects.list(tags_prefix(check_name(name)), recursive=False)
        found = self.objects.read_many([e.key for e in entries if e.key.endswith(".json")])
        out: dict[str, int] = {}
        for key, data in found.items():
            if data is not None:
                alias = key.rpartition("/")[2].removesuffix(".json")
                out[alias] = parse_tag_record(data, self.objects.where(key))
        return dict(sorted(out.items()))

    # -- aliases and collection -------------------------------------------------------------
    def tag(self, name: str, ref: int | str, alias: str) -> Version:
        """Point the mutable alias `alias` of `name` at the version `ref` names."""
        check_alias(alias)
        version = self.resolve(name, ref)
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

    def gc(self, keep_last: int, grace_seconds: float = 3600, dry_run: bool = False) -> GcReport:
        """Delete versions beyond the last `keep_last` of each name (tagged ones stay) and
        objects no kept version reaches, once older than `grace_seconds`; see `gc.py`."""
        return collect_garbage(self, keep_last, grace_seconds, dry_run)

    # -- records ----------------------------------------------------------------------------
    def _numbers(self, name: str) -> list[int]:
        found = (split_ref_key(e.key) for e in self.objects.list(refs_prefix(name), False))
        return sorted(hit[1] for hit in found if hit and hit[0] == name)

    def _records_of(self, name: str) -> dict[int, tuple[str, str]]:
        """{number: (manifest digest, created)} of every version of `name`."""
        numbers = self._numbers(name)
        missing = [ref_key(name, n) for n in numbers if (name, n) not in self._records]
        for key, data in self.objects.read_many(missing).items():
            if data is not None:  # None: deleted by gc since the listing
                _, number = split_ref_key(key) or (name, 0)
                where = self.objects.where(key)
                self._records[(name, number)] = parse_ref_record(data, name, number, where)
        return {n: self._records[(name, n)] for n in numbers if (name, n) in self._records}

    def _record(self, name: str, number: int) -> tuple[str, str] | None:
        if (name, number) not in self._records:
            key = ref_key(name, number)
            try:
                data = self.objects.read(key)
            except FileNotFoundError:
                return None
            where = self.objects.where(key)
            self._records[(name, number)] = parse_ref_record(data, name, number, where)
        return self._records[(name, number)]

    def _load_manifests(self, digests: Sequence[str]) -> None:
        missing = sorted({d for d in digests if d not in self._manifests})
        found = self.objects.read_many([manifest_key(d) for d in missing])
        for digest in missing:
            data = found[manifest_key(digest)]
            where = self.objects.where(manifest_key(digest))
            if data is None:
                raise IntegrityError(
                    f"manifest {where} is missing although a version refers to it: the store "
                    "is damaged; restore the object from a backup or remove the version's ref"
                )
            self._manifests[digest] = parse_manifest(data, digest, where)

    def _version(self, name: str, number: int, digest: str, created: str) -> Version:
        self._load_manifests([digest])
        manifest = self._manifests[digest]
        if manifest.name != name:
            raise IntegrityError(
                f"{self.objects.where(ref_key(name, number))} points to a manifest of "
                f"{manifest.name!r}: the store was edited by hand; remove that record"
            )
        return make_version(manifest, number, digest, created, self.url)

    def _find_digest(self, name: str, digest: str) -> Version | None:
        records = self._records_of(name)
        same = [n for n, (d, _) in records.items() if d == digest]
        return self._version(name, max(same), *records[max(same)]) if same else None

    def _alias_target(self, name: str, alias: str) -> int:
        check_alias(alias)
        key = tag_key(name, alias)
        try:
            data = self.objects.read(key)
        except FileNotFoundError:
            raise NotFoundError(
                f"{name!r} has no version or alias {alias!r} in {self.url}: "
                f"{self._what_exists(name)}"
            ) from None
        return parse_tag_record(data, self.objects.where(key))

    def _no_versions(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"no artifact named {name!r} in store {self.url}: check the name "
            f"(`lightrnn store ls {self.url}` lists them), or put it first"
        )

    def _what_exists(self, name: str) -> str:
        numbers = self._numbers(name)
        if not numbers:
            return f"{name!r} has no versions at all (`lightrnn store ls {self.url}` lists names)"
        tags = self.tags(name)
        versions = _listing([version_label(n) for n in numbers])
        aliases = _listing(sorted(tags)) if tags else "none"
        return f"versions are {versions}; aliases: {aliases}; or use 'latest'"


def _listing(items: Sequence[str], limit: int = 12) -> str:
    """'a, b, c' or 'a, b, ... (40 in all)': short enough for one error line."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[: limit // 2])}, ..., {', '.join(items[-limit // 2 :])} " + (
        f"({len(items)} in all)"
    )
