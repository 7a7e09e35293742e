"""Manifests: the immutable, content-addressed description of one artifact's files.

A manifest is canonical JSON (sorted keys, no spaces), so identical content gives an identical
digest and a second commit of it is recognised (dedup). Reading one back re-checks its digest and
every relative path, so a tampered or hostile manifest cannot write outside a target directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.errors import IntegrityError, InvalidInputError
from storage.records.layout import is_sha256
from storage.records.refnames import check_name, parse_ref

FORMAT = 1
SHAPES = ("file", "directory")  # what `get` hands back: the single file, or the directory


@dataclass(frozen=True)
class Manifest:
    """Files {relative path: {sha256, size}} of one artifact, plus what it is and came from."""

    name: str
    kind: str
    shape: str  # "file" | "directory"
    files: Mapping[str, Mapping[str, Any]]  # rel posix path -> {"sha256": hex, "size": bytes}
    meta: Mapping[str, Any] = field(default_factory=dict)
    parents: tuple[str, ...] = ()  # refs "name@v000003" of the artifacts this was made from

    def to_bytes(self) -> bytes:
        """Canonical JSON: the bytes whose sha256 is the manifest's digest."""
        record = {
            "format": FORMAT,
            "name": self.name,
            "kind": self.kind,
            "shape": self.shape,
            "files": {rel: dict(entry) for rel, entry in sorted(self.files.items())},
            "meta": self.meta,
            "parents": list(self.parents),
        }
        return canonical_json(record)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, compact, UTF-8, no NaN)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def check_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of `meta`; else an error naming the offending value."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidInputError(f"meta must be a dict of JSON values, got {type(meta).__name__}")
    try:
        text = json.dumps(dict(meta), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"meta is not JSON-serialisable ({exc}): keep to str keys and str, int, float "
            "(finite), bool, None, list and dict values; convert paths and arrays first"
        ) from None
    return json.loads(text)


def check_relpath(rel: str, where: str) -> str:
    """`rel` if it is a safe relative posix path (no '..', not absolute); else an error."""
    bad = (
        not isinstance(rel, str)
        or not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\x00" in rel
        or (len(rel) >= 2 and rel[1] == ":")  # a Windows drive, e.g. 'C:'
        or any(part in ("", ".", "..") for part in rel.split("/"))
    )
    if bad:
        raise IntegrityError(
            f"{where} lists file path {rel!r}, which would escape the target directory "
            "(absolute, '..', empty or backslash steps): refusing to read it; the manifest was "
            "not written by this store, so remove that version or restore it from a backup"
        )
    return rel


def parse_manifest(data: bytes, digest: str, where: str) -> Manifest:
    """The manifest stored at `where`, after checking its digest, structure and every path."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise IntegrityError(
            f"{where}: content hashes to {actual[:12]}..., not to its key {digest[:12]}...; the "
            "manifest is damaged: re-put the artifact or restore the object from a backup"
        )
    try:
        record = json.loads(data)
        name = check_name(record["name"])
        kind, shape = str(record["kind"]), str(record["shape"])
        files = {str(rel): _check_entry(entry) for rel, entry in record["files"].items()}
        meta = dict(record["meta"])
        parents = tuple(str(p) for p in record["parents"])
        for parent in parents:
            parse_ref(parent)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(
            f"{where} is not a valid manifest ({type(exc).__name__}: {exc}): "
            "remove that version or restore the object from a backup"
        ) from None
    if shape not in SHAPES or (shape == "file" and len(files) != 1):
        raise IntegrityError(
            f"{where} has shape {shape!r} with {len(files)} files: expected 'directory', or "
            "'file' with exactly one file; remove that version or restore it from a backup"
        )
    check_tree(files, where)
    return Manifest(name=name, kind=kind, shape=shape, files=files, meta=meta, parents=parents)


def check_tree(files: Mapping[str, Any], where: str) -> None:
    """Every path is safe, and none is also used as a directory of another (a/b beside a)."""
    dirs: set[str] = set()
    for rel in files:
        check_relpath(rel, where)
        parts = rel.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(dirs & set(files))
    if clash:
        raise IntegrityError(
            f"{where} lists {clash[0]!r} both as a file and as a directory: "
            "remove that version or restore it from a backup"
        )


def _check_entry(entry: Any) -> dict[str, Any]:
    sha, size = entry["sha256"], entry["size"]
    if not is_sha256(sha) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"bad file entry {entry!r}")
    return {"sha256": sha, "size": size}
