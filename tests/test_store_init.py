"""No silent new store: a URL that holds no store is refused (reads, writes, `lightrnn run`),
`lightrnn store init URL` makes one (once), older stores without store.json keep working, and
the default local store and memory:// stores are created on first use."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from pipeline_helpers import wikitext_slice
from typer.testing import CliRunner

import storage
from flows.cli import app
from storage.root import _KNOWN, MARKER

LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store and the cache inside the test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path


def refusal(url: str, default: str) -> str:
    return (
        f"no store at {url}: it has no store.json (check the URL for a typo); create it with "
        f"`lightrnn store init {url}`, or use the default local store {default} (no --store), "
        "which is created on first use"
    )


def test_a_missing_local_store_is_refused_and_nothing_is_created(env: Path) -> None:
    url = (env / "no-such-dir" / "store").as_uri()
    with pytest.raises(storage.StoreConnectionError) as info:
        storage.open_store(url)
    assert str(info.value) == refusal(url, storage.default_store_url())
    assert not (env / "no-such-dir").exists()


def test_store_init_creates_once_then_finds(env: Path) -> None:
    url = (env / "store").as_uri()
    assert invoke("init", url) == (0, f"created store {url}\n")
    assert invoke("init", url) == (0, f"found store {url}: nothing to do\n")
    record = json.loads((env / "store" / MARKER).read_text())
    assert record["format"] == "lightrnn-flow store" and record["format_version"] == 1
    store = storage.open_store(url)
    store.put_bytes("a", "x.txt", b"x")
    assert storage.open_store(url).read_bytes("a") == b"x"


def test_reads_of_a_missing_store_fail_as_one_line(env: Path) -> None:
    url = (env / "typo").as_uri()
    for args in (("ls", url), ("log", url, "a"), ("get", url, "a")):
        code, out = invoke(*args)
        assert (code, out) == (2, f"error: {refusal(url, storage.default_store_url())}\n")
    assert not (env / "typo").exists()


def test_a_store_made_before_store_json_keeps_working_and_init_marks_it(env: Path) -> None:
    root = env / "old"
    url = root.as_uri()
    storage.open_store(url, create=True).put_bytes("a", "x.txt", b"old")
    (root / MARKER).unlink()  # as a store made before store.json existed
    _KNOWN.discard(url)
    assert storage.open_store(url).read_bytes("a") == b"old"
    assert storage.init_store(url) == "marked"
    assert storage.init_store(url) == "found"


def test_the_default_store_and_memory_stores_are_created_on_first_use(env: Path) -> None:
    default = storage.open_store()
    assert default.url == storage.default_store_url()
    assert (env / "xdg-data" / "lightrnn-flow" / "store" / MARKER).is_file()
    spelled_out = storage.open_store(storage.default_store_url())
    assert spelled_out.url == default.url
    memory = storage.open_store(f"memory://init-{uuid.uuid4().hex[:8]}")
    memory.put_bytes("a", "x.txt", b"m")
    assert memory.read_bytes("a") == b"m"


def test_racing_inits_create_exactly_once(env: Path) -> None:
    url = (env / "raced").as_uri()
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(storage.init_store(url))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["found"] * 7


def test_a_foreign_or_newer_store_json_is_refused(env: Path) -> None:
    root = env / "other"
    root.mkdir()
    (root / MARKER).write_text('{"name": "some other tool"}')
    with pytest.raises(storage.IntegrityError, match="is not a lightrnn-flow store record"):
        storage.open_store(root.as_uri())
    (root / MARKER).write_text('{"format": "lightrnn-flow store", "format_version": 99}')
    with pytest.raises(storage.StoreError, match="format version 99, newer than this"):
        storage.init_store(root.as_uri())


@pytest.mark.s3
def test_s3_prefix_without_a_store_is_refused_until_init(s3_env, tmp_path: Path) -> None:
    url = f"s3://{s3_env.bucket}/init-{uuid.uuid4().hex[:8]}"
    with pytest.raises(storage.StoreConnectionError, match=f"no store at {url}: "):
        storage.open_store(url, cache_dir=tmp_path)
    assert storage.init_store(url) == "created"
    storage.open_store(url, cache_dir=tmp_path).put_bytes("a", "x.txt", b"s3")
    assert storage.init_store(url) == "found"
    assert storage.open_store(url, cache_dir=tmp_path / "c2").read_bytes("a") == b"s3"


def test_lightrnn_run_on_a_missing_store_fails_in_one_line(env: Path) -> None:
    corpus = wikitext_slice(env / "corpus", train_lines=20, eval_lines=5)
    url = "file:///data/no-such-dir/store"
    proc = subprocess.run(
        [LIGHTRNN, "run", "--corpus", str(corpus), "--profile", "tiny", "--store", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    default = (env / "xdg-data" / "lightrnn-flow" / "store").as_uri()
    assert proc.stderr == f"error: {refusal(url, default)}\n"
    assert not Path("/data/no-such-dir").exists()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["store", *args])
    return result.exit_code, result.output
