"""Durability of the file store: every file is fsynced before it is renamed or linked into place,
and every directory whose entries changed is fsynced before the next step of the commit relies on
it, so after a power loss a ref never survives without its manifest and blobs; gc makes a ref's
removal durable before it removes what the ref reached. Checked by spying on os calls."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import storage


class Spy:
    """Records fsync (by path), rename/replace/link and unlink calls, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        real_fsync, real_replace, real_link = os.fsync, os.replace, os.link
        real_remove, real_unlink = os.remove, os.unlink

        def fsync(fd: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src: str, dst: str, **kw: object) -> None:
            self.events.append(("fsync-needed", str(src)))
            real_replace(src, dst, **kw)
            self.events.append(("placed", str(dst)))

        def link(src: str, dst: str, **kw: object) -> None:
            self.events.append(("fsync-needed", str(src)))
            real_link(src, dst, **kw)
            self.events.append(("placed", str(dst)))

        def remove(path: str, **kw: object) -> None:
            real_remove(path, **kw)
            self.events.append(("removed", str(path)))

        def unlink(path: str, **kw: object) -> None:
            real_unlink(path, **kw)
            self.events.append(("removed", str(path)))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "link", link)
        monkeypatch.setattr(os, "remove", remove)
        monkeypatch.setattr(os, "unlink", unlink)

    def index(self, kind: str, path: Path | str, after: int = -1) -> int:
        for i, (k, p) in enumerate(self.events):
            if i > after and k == kind and p == str(path):
                return i
        raise AssertionError(f"no {kind} of {path} after event {after}: {self.events}")


def store_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts}


def test_a_commit_is_durable_before_its_ref_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = storage.open_store(root.as_uri(), cache_dir=tmp_path / "cache", create=True)
    store.put_bytes("runs/r/checkpoint", "c.bin", b"first")  # directories exist from here on
    dirs_before = {p for p in root.rglob("*") if p.is_dir()}
    files_before = store_files(root)
    spy = Spy(monkeypatch)

    version = store.put_bytes("runs/other/checkpoint", "c.bin", b"second")

    new_files = store_files(root) - files_before
    # nothing else changed: one blob, one manifest, one ref; no temporary file or marker left
    assert sorted(p.relative_to(root).parts[0] for p in new_files) == ["blobs", "manifests", "refs"]
    assert list((root / ".tmp").iterdir()) == [] and list((root / "pending").iterdir()) == []
    (ref,) = [p for p in new_files if p.relative_to(root).parts[0] == "refs"]
    ref_placed = spy.index("placed", ref)
    for path in new_files:
        placed = spy.index("placed", path)
        staged = spy.events[placed - 1][1]  # the temporary file renamed or linked into place
        assert any(e == ("fsync", staged) for e in spy.events[: placed - 1]), path
        # its directory entry is durable before the ref (or, for the ref, before put returns)
        synced = spy.index("fsync", path.parent, after=placed)
        assert path == ref or synced < ref_placed, path
    for new_dir in {p for p in root.rglob("*") if p.is_dir()} - dirs_before:
        if ".tmp" not in new_dir.parts:
            spy.index("fsync", new_dir.parent)  # a new directory's own entry is durable too
    assert version.ref == "runs/other/checkpoint@v000001"
    assert store.read_bytes("runs/other/checkpoint") == b"second"


def test_gc_makes_a_refs_removal_durable_before_removing_its_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = storage.open_store(root.as_uri(), cache_dir=tmp_path / "cache", create=True)
    store.put_bytes("a", "x.bin", b"old")
    store.put_bytes("a", "x.bin", b"new")
    spy = Spy(monkeypatch)

    report = store.gc(keep_last=1, grace_seconds=0)

    assert report.deleted_versions == ("a@v000001",)
    ref = root / "refs" / "a" / "v000001.json"
    removed_ref = spy.index("removed", ref)
    ref_synced = spy.index("fsync", ref.parent, after=removed_ref)
    for kind, path in spy.events:
        if kind == "removed" and ("blobs" in Path(path).parts or "manifests" in Path(path).parts):
            assert spy.events.index((kind, path)) > ref_synced, path
