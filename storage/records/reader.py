"""The records layer: reading refs, retractions, manifests and tags, shared by `Store` and gc.

Ref records, retraction records and manifests never change once written (gc may delete them,
but version numbers are never reused: gc always keeps a name's newest ref), so what was read
once is kept in memory. Listings and tags (mutable) are read afresh every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from storage.backends.objects import Objects
from storage.errors import IntegrityError
from storage.records.layout import (
    TAGS,
    manifest_key,
    ref_key,
    refs_prefix,
    retraction_key,
    split_ref_key,
    split_retraction_key,
    split_tag_key,
    tag_key,
    tags_prefix,
)
from storage.records.manifest import Manifest, parse_manifest
from storage.records.version import (
    Retraction,
    Version,
    make_version,
    parse_ref_record,
    parse_retraction_record,
    parse_tag_record,
)


@dataclass(frozen=True)
class Listing:
    """The version numbers of one name, and which of them are retracted, from one listing."""

    numbers: tuple[int, ...]  # ascending
    retracted: frozenset[int]

    @property
    def valid(self) -> tuple[int, ...]:
        """Numbers that are not retracted, ascending."""
        return tuple(n for n in self.numbers if n not in self.retracted)


class Records:
    """Reads the store's records through `objects`, keeping the immutable ones."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self._refs: dict[tuple[str, int], tuple[str, str]] = {}  # -> (manifest digest, created)
        self._retractions: dict[tuple[str, int], Retraction] = {}
        self._manifests: dict[str, Manifest] = {}

    # -- versions of one name ---------------------------------------------------------------
    def listing(self, name: str) -> Listing:
        """Numbers and retractions of `name`, from one (non-recursive) listing."""
        numbers: set[int] = set()
        retracted: set[int] = set()
        for entry in self.objects.list(refs_prefix(name), recursive=False):
            if (hit := split_ref_key(entry.key)) and hit[0] == name:
                numbers.add(hit[1])
            elif (hit := split_retraction_key(entry.key)) and hit[0] == name:
                retracted.add(hit[1])
        return Listing(tuple(sorted(numbers)), frozenset(retracted & numbers))

    def refs(self, name: str, numbers: Iterable[int]) -> dict[int, tuple[str, str]]:
        """{number: (manifest digest, created)}; numbers whose ref is gone are left out."""
        numbers = list(numbers)
        self._load(self._refs, name, numbers, ref_key, parse_ref_record)
        return {n: self._refs[(name, n)] for n in numbers if (name, n) in self._refs}

    def ref(self, name: str, number: int) -> tuple[str, str] | None:
        """(manifest digest, created) of version `number`, or None when there is none."""
        return self.refs(name, [number]).get(number)

    def retractions(self, name: str, numbers: Iterable[int]) -> dict[int, Retraction]:
        """{number: Retraction} of those of `numbers` that are retracted. A retraction may
        appear at any time and never goes away: absence is read afresh, presence is kept."""
        numbers = list(numbers)
        self._load(self._retractions, name, numbers, retraction_key, parse_retraction_record)
        return {n: self._retractions[(name, n)] for n in numbers if (name, n) in self._retractions}

    def retraction(self, name: str, number: int) -> Retraction | None:
        """The retraction of version `number`, or None when it is not retracted."""
        return self.retractions(name, [number]).get(number)

    def _load(
        self,
        cache: dict[tuple[str, int], Any],
        name: str,
        numbers: list[int],
        key_of: Callable[[str, int], str],
        parse: Callable[[bytes, str, int, str], Any],
    ) -> None:
        """Read and parse the records of `numbers` not in `cache` yet (gone ones stay out)."""
        keys = {key_of(name, n): n for n in numbers if (name, n) not in cache}
        for key, data in self.objects.read_many(keys).items():
            if data is not None:  # None: not there (deleted by gc, or never written)
                cache[(name, keys[key])] = parse(data, name, keys[key], self.objects.where(key))

    def versions(self, name: str, listing: Listing | None = None) -> list[Version]:
        """Every version of `name` still there, oldest first."""
        listing = listing if listing is not None else self.listing(name)
        refs = self.refs(name, listing.numbers)
        retractions = self.retractions(name, listing.retracted)
        self.manifests([digest for digest, _ in refs.values()])
        return [self.version(name, n, refs[n], retractions.get(n)) for n in sorted(refs)]

    def version(
        self,
        name: str,
        number: int,
        record: tuple[str, str],
        retraction: Retraction | None,
    ) -> Version:
        """The `Version` a ref record (and its retraction, if any) stands for."""
        digest, created = record
        manifest = self.manifests([digest])[digest]
        if manifest.name != name:
            raise IntegrityError(
                f"{self.objects.where(ref_key(name, number))} points to a manifest of "
                f"{manifest.name!r}: the store was edited by hand; remove that record"
            )
        return make_version(manifest, number, digest, created, self.objects.url, retraction)

    # -- manifests --------------------------------------------------------------------------
    def manifests(self, digests: Sequence[str]) -> dict[str, Manifest]:
        """{digest: Manifest}; an IntegrityError when one that a version needs is missing."""
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
        return {d: self._manifests[d] for d in digests}

    def remember(self, digest: str, manifest: Manifest) -> None:
        """Keep a manifest this process just wrote (it is immutable)."""
        self._manifests[digest] = manifest

    # -- aliases ----------------------------------------------------------------------------
    def tags(self, name: str) -> dict[str, int]:
        """{alias: version number} of `name`, sorted by alias."""
        entries = self.objects.list(tags_prefix(name), recursive=False)
        found = self._read_tags(e.key for e in entries if e.key.endswith(".json"))
        return dict(sorted((alias, n) for (_, alias), n in found.items()))

    def alias(self, name: str, alias: str) -> int | None:
        """The version number `alias` of `name` points at, or None when there is no such alias."""
        key = tag_key(name, alias)
        try:
            data = self.objects.read(key)
        except FileNotFoundError:
            return None
        return parse_tag_record(data, self.objects.where(key))

    def tagged(self) -> dict[str, set[int]]:
        """{name: version numbers some alias points at}, over the whole store."""
        out: dict[str, set[int]] = {}
        for (name, _), number in self._read_tags(e.key for e in self.objects.list(TAGS)).items():
            out.setdefault(name, set()).add(number)
        return out

    def _read_tags(self, keys: Iterable[str]) -> dict[tuple[str, str], int]:
        """{(name, alias): version number} of the alias records at `keys` (gone ones left out)."""
        out: dict[tuple[str, str], int] = {}
        for key, data in self.objects.read_many([k for k in keys if split_tag_key(k)]).items():
            hit = split_tag_key(key)
            if data is not None and hit:
                out[hit] = parse_tag_record(data, self.objects.where(key))
        return out
