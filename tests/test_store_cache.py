"""The local cache is verified on every hand-out: a cached file changed in place (same size, as
root can do whatever the file mode) is detected, never handed out, and fetched again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import storage

DATA = b"0123456789" * 1000


@pytest.fixture
def url(tmp_path: Path) -> str:
    return (tmp_path / "store").as_uri()


def edit_in_place(path: Path, data: bytes) -> None:
    """What a careless tool running as root does: write into the read-only file, same size."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)
    os.chmod(path, 0o444)


@pytest.mark.parametrize("wait", [0.0, 1.2], ids=["at-once", "after-the-stamp-settles"])
def test_a_file_edited_in_place_is_fetched_again(url: str, tmp_path: Path, wait: float) -> None:
    storage.open_store(url, cache_dir=tmp_path / "cache", create=True).put_bytes("a", "x.bin", DATA)
    path = storage.open_store(url, cache_dir=tmp_path / "cache", create=True).get("a")
    assert path.read_bytes() == DATA
    time.sleep(wait)  # 1.2 s: the recorded stat is trusted from now on, so only a change shows

    edit_in_place(path, b"X" * 10)

    fresh = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    again = fresh.get("a")
    assert again.read_bytes() == DATA
    assert fresh.get("a", 1).read_bytes() == DATA


def test_a_damaged_blob_is_not_linked_into_another_names_tree(url: str, tmp_path: Path) -> None:
    store = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    store.put_bytes("a", "x.bin", DATA)
    store.put_bytes("b", "y.bin", DATA)  # same content: one blob, one cached copy
    edit_in_place(store.get("a"), b"Y" * 10)

    fresh = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    assert fresh.get("b").read_bytes() == DATA
    assert fresh.get("a").read_bytes() == DATA


def test_a_directory_version_is_verified_file_by_file(url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "one.bin").write_bytes(DATA)
    (src / "sub" / "two.bin").write_bytes(DATA[::-1])
    store = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    store.put("d", src)
    tree = store.get("d")

    edit_in_place(tree / "sub" / "two.bin", b"Z")
    (tree / "stray.txt").write_text("not part of the version")

    again = storage.open_store(url, cache_dir=tmp_path / "cache", create=True).get("d")
    assert again == tree
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()) == [
        "one.bin",
        "sub/two.bin",
    ]
    assert (tree / "one.bin").read_bytes() == DATA
    assert (tree / "sub" / "two.bin").read_bytes() == DATA[::-1]


def test_an_intact_cache_is_not_fetched_again(url: str, tmp_path: Path) -> None:
    store = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    store.put_bytes("a", "x.bin", DATA)
    path = store.get("a")
    store.objects.delete([e.key for e in store.objects.list("blobs/")])  # the store loses it

    assert storage.open_store(url, cache_dir=tmp_path / "cache", create=True).get("a") == path
    assert path.read_bytes() == DATA
