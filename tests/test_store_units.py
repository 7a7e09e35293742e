"""The store's small parts, without a server: names, URLs, records, the cache, input errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from storage.backends.urls import open_objects
from storage.errors import redact
from storage.records.manifest import Manifest, check_relpath, parse_manifest
from storage.records.refnames import check_alias, check_name, parse_ref, version_number


# -- names and refs -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["corpus/ab12cd/shards", "runs/3f9a/round-1/checkpoint", "a"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        ("/abs/name", "starts or ends with '/'"),
        ("a//b", "segment '' is empty"),
        ("a/../b", "segment '..' is a relative path step"),
        ("a/b c", "holds characters outside [A-Za-z0-9._-]"),
        ("a/.hidden", "starts with '.'"),
        ("a/v000001.json", "ends in '.json'"),
    ],
)
def test_invalid_names_say_why(name: str, problem: str) -> None:
    with pytest.raises(storage.InvalidInputError, match=problem.replace("[", r"\[")):
        check_name(name)


def test_refs_and_aliases() -> None:
    assert [version_number(r) for r in (3, "3", "v3", "v000003", "best")] == [3, 3, 3, 3, None]
    assert parse_ref("runs/r1/checkpoint@v000012") == ("runs/r1/checkpoint", 12)
    assert check_alias("stable") == "stable"
    for bad in ("latest", "v2", "12", "a/b", ".x"):
        with pytest.raises(storage.InvalidInputError):
            check_alias(bad)
    with pytest.raises(storage.InvalidInputError, match="not of the form 'name@v000003'"):
        parse_ref("runs/r1/checkpoint")
    with pytest.raises(storage.InvalidInputError, match="below 1"):
        version_number("v0")


# -- URLs -----------------------------------------------------------------------------------
def test_default_store_url_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert storage.default_store_url() == (tmp_path / "lightrnn-flow" / "store").as_uri()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "lightrnn-flow" / "store"
    assert storage.default_store_url() == expected.as_uri()


def test_open_store_without_url_uses_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = storage.open_store(create=True)
    store.put_bytes("a", "x.txt", b"x")

    assert store.url == (tmp_path / "data" / "lightrnn-flow" / "store").as_uri()
    assert (tmp_path / "data" / "lightrnn-flow" / "store" / "refs" / "a" / "v000001.json").exists()
    assert store.get("a").is_relative_to(tmp_path / "cache" / "lightrnn-flow" / "store")


@pytest.mark.parametrize(
    ("url", "root_url"),
    [
        ("file:///srv/store/", "file:///srv/store"),
        ("/srv/store", "file:///srv/store"),
        ("memory://tests/one", "memory://tests/one"),
        ("s3://bucket/pre/fix/", "s3://bucket/pre/fix"),
        ("s3://bucket", "s3://bucket"),
    ],
)
def test_store_urls(url: str, root_url: str) -> None:
    assert open_objects(url, env={}).url == root_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://b/p", "has scheme 'gs', which the store does not support: use file:///path"),
        ("s3://AKID:hunter2pw@bucket/p", "'s3://***@bucket/p' carries credentials"),
        ("file://host/path", "a file URL needs an absolute path with three slashes"),
        ("s3:///prefix", "names no bucket"),
        ("s3://b/p?endpoint=x", "has a query or fragment"),
        ("", "is empty"),
    ],
)
def test_bad_store_urls(url: str, message: str) -> None:
    with pytest.raises(storage.InvalidInputError) as info:
        storage.open_store(url, create=True)
    assert message in str(info.value)
    assert "hunter2pw" not in str(info.value) and "AKID" not in str(info.value)


def test_local_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(storage.StoreConnectionError, match="is a file, not a directory"):
        storage.open_store((tmp_path / "file").as_uri(), create=True)


def test_redact_hides_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    error = storage.StoreError("failed with s3cr3t-value at s3://user:pw@host/x")
    assert str(error) == "failed with *** at s3://***@host/x"
    assert redact("no secrets here") == "no secrets here"


# -- records --------------------------------------------------------------------------------
def test_manifest_digest_is_canonical() -> None:
    files = {"b.txt": {"sha256": "0" * 64, "size": 1}, "a.txt": {"sha256": "1" * 64, "size": 2}}
    one = Manifest("n", "artifact", "directory", files, {"x": 1, "y": [1, 2]}, ("p@v000001",))
    shuffled = dict(reversed(files.items()))
    two = Manifest("n", "artifact", "directory", shuffled, {"y": [1, 2], "x": 1}, ("p@v000001",))

    assert one.to_bytes() == two.to_bytes()
    assert one.digest == two.digest
    assert parse_manifest(one.to_bytes(), one.digest, "here") == Manifest(
        "n", "artifact", "directory", files, {"x": 1, "y": [1, 2]}, ("p@v000001",)
    )
    assert json.loads(one.to_bytes())["files"] == dict(sorted(files.items()))


def test_manifest_tampering_is_detected() -> None:
    manifest = Manifest("n", "artifact", "file", {"a": {"sha256": "0" * 64, "size": 1}})
    with pytest.raises(storage.IntegrityError, match="not to its key"):
        parse_manifest(manifest.to_bytes() + b" ", manifest.digest, "here")
    entry = {"sha256": "0" * 64, "size": 1}
    both = Manifest("n", "artifact", "directory", {"a": entry, "a/b": entry})
    with pytest.raises(storage.IntegrityError, match="both as a file and as a directory"):
        parse_manifest(both.to_bytes(), both.digest, "here")


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/./b", "a//b", "C:/x", "a\\b", ""])
def test_unsafe_relative_paths(rel: str) -> None:
    with pytest.raises(storage.IntegrityError, match="would escape the target directory"):
        check_relpath(rel, "manifest m")


# -- input errors ---------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> storage.Store:
    return storage.open_store(
        (tmp_path / "store").as_uri(), cache_dir=tmp_path / "cache", create=True
    )


def test_put_input_errors(store: storage.Store, tmp_path: Path) -> None:
    with pytest.raises(storage.InvalidInputError, match="does not exist: pass the file"):
        store.put("a", tmp_path / "missing")
    with pytest.raises(storage.InvalidInputError, match="meta is not JSON-serialisable"):
        store.put_bytes("a", "x", b"x", meta={"path": Path("x")})
    with pytest.raises(storage.InvalidInputError, match="meta is not JSON-serialisable"):
        store.put_bytes("a", "x", b"x", meta={"ppl": float("nan")})
    with pytest.raises(storage.InvalidInputError, match="must be one path segment"):
        store.put_bytes("a", "sub/x.json", b"x")
    with pytest.raises(storage.InvalidInputError, match=r"file name '\.\.' cannot be stored"):
        store.put_bytes("a", "..", b"x")
    (tmp_path / "weird").mkdir()
    (tmp_path / "weird" / "back\\slash").write_bytes(b"x")
    with pytest.raises(storage.InvalidInputError, match=r"file name 'back\\\\slash' cannot"):
        store.put("a", tmp_path / "weird")
    with pytest.raises(storage.InvalidInputError, match="not bytes"):
        store.put_bytes("a", "x", "text")  # type: ignore[arg-type]
    with pytest.raises(storage.InvalidInputError, match="kind 'two words'"):
        store.put_bytes("a", "x", b"x", kind="two words")
    (tmp_path / "d" / "real").mkdir(parents=True)
    (tmp_path / "d2").mkdir()
    os.symlink(tmp_path / "d" / "real", tmp_path / "d2" / "link")
    with pytest.raises(storage.InvalidInputError, match="symlink to a directory"):
        store.put("a", tmp_path / "d2")
    assert store.names() == []


def test_read_bytes_of_a_directory_needs_a_filename(store: storage.Store, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_bytes(b"x")
    (tmp_path / "d" / "y.txt").write_bytes(b"y")
    store.put("dir", tmp_path / "d")

    assert store.read_bytes("dir", filename="y.txt") == b"y"
    with pytest.raises(storage.InvalidInputError, match="holds 2 files: pass filename=, one of"):
        store.read_bytes("dir")
    with pytest.raises(storage.NotFoundError, match=r"has no file 'z\.txt'"):
        store.read_bytes("dir", filename="z.txt")


def test_empty_directory_round_trip(store: storage.Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    version = store.put("e", tmp_path / "empty")
    assert version.files == {}
    assert list(store.get("e").iterdir()) == []


# -- the cache ------------------------------------------------------------------------------
def test_cached_copies_are_read_only_and_rebuilt_when_damaged(
    store: storage.Store, tmp_path: Path
) -> None:
    store.put_bytes("a", "x.bin", b"0123456789")
    path = store.get("a")
    assert path.read_bytes() == b"0123456789"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # root writes anyway
    assert path.stat().st_mode & 0o222 == 0

    tree = path.parent
    path.unlink()  # a user deleting (or truncating) a cached file
    again = store.get("a")
    assert again == path and again.read_bytes() == b"0123456789"
    assert tree.is_dir()


def test_store_never_imports_torch_prefect_lightrnn_or_pickle() -> None:
    code = (
        "import sys, storage, storage.coordination.gc, storage.backends.s3, flows.store_cli;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'prefect', 'lightrnn', 'pickle', '_pickle', 'dill', 'cloudpickle') "
        "and m.split('.')[0] not in sys.builtin_module_names);"
        "print(','.join(bad))"
    )
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    # The standard library imports pickle for its own use (e.g. logging); the store must not
    # add torch, Prefect or lightrnn, and its own source never calls pickle.
    assert {m for m in out.stdout.strip().split(",") if m} <= {"pickle", "_pickle"}
    source = "\n".join(p.read_text() for p in (repo / "storage").glob("*.py"))
    assert (
        re.findall(r"import (?:pickle|torch|prefect|lightrnn)|pickle\.|torch\.load", source) == []
    )
