"""`lightrnn store ls|log|get|tag|retract|gc`, through the project's console app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import storage
from flows.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the cache (and any default store) inside the test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path


@pytest.fixture
def filled(env: Path) -> tuple[str, storage.Store]:
    url = (env / "store").as_uri()
    store = storage.open_store(url, create=True)
    vocab = store.put_bytes("corpus/c1/vocab", "vocab.txt", b"a\nb\n", kind="vocab")
    for step in (1, 2, 3):
        store.put_bytes(
            "runs/r1/checkpoint",
            "model.bin",
            bytes([step]) * 2048,
            meta={"step": step},
            parents=[vocab.ref],
            kind="checkpoint",
        )
    return url, store


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["store", *args])
    return result.exit_code, result.stdout, result.stderr


def test_ls_lists_names_with_counts(filled: tuple[str, storage.Store]) -> None:
    url, _ = filled
    code, out, _ = invoke("ls", url)

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["NAME", "VERSIONS", "LATEST", "KIND", "SIZE", "CREATED"]
    assert [line.split()[:5] for line in lines[1:]] == [
        ["corpus/c1/vocab", "1", "v000001", "vocab", "4"],
        ["runs/r1/checkpoint", "3", "v000003", "checkpoint", "2.0"],
    ]
    assert invoke("ls", url, "runs/")[1].splitlines()[1].startswith("runs/r1/checkpoint ")
    assert invoke("ls", url, "nothing/")[1] == f"no artifacts in {url} under 'nothing/'\n"


def test_log_shows_meta_lineage_and_tags(filled: tuple[str, storage.Store]) -> None:
    url, _ = filled
    assert invoke("tag", url, "runs/r1/checkpoint", "2", "best") == (
        0,
        "runs/r1/checkpoint:best -> runs/r1/checkpoint@v000002\n",
        "",
    )

    code, out, _ = invoke("log", url, "runs/r1/checkpoint")

    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"runs/r1/checkpoint in {url}"
    assert lines[1].split() == [
        "VERSION", "CREATED", "KIND", "SIZE", "FILES", "TAGS", "PARENTS", "META"
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[2], r[5], r[6], r[7], r[8]) for r in rows] == [
        ("v000001", "checkpoint", "1", "-", "corpus/c1/vocab@v000001", '{"step":'),
        ("v000002", "checkpoint", "1", "best", "corpus/c1/vocab@v000001", '{"step":'),
        ("v000003", "checkpoint", "1", "-", "corpus/c1/vocab@v000001", '{"step":'),
    ]
    assert lines[3].endswith('{"step": 2}')


def test_retract_then_log_ls_and_get_skip_the_version(filled: tuple[str, storage.Store]) -> None:
    url, store = filled
    code, out, err = invoke("retract", url, "runs/r1/checkpoint", "3", "--reason", "NaN loss")

    assert (code, err) == (0, "")
    retraction = store.resolve("runs/r1/checkpoint", 3).retraction
    assert retraction is not None
    assert out == f"retracted runs/r1/checkpoint@v000003 at {retraction.retracted}: NaN loss\n"
    log_lines = invoke("log", url, "runs/r1/checkpoint")[1].splitlines()
    assert [line.split()[0] for line in log_lines[2:5]] == ["v000001", "v000002", "v000003"]
    assert log_lines[5:] == [f"retracted v000003 at {retraction.retracted}: NaN loss"]
    assert invoke("ls", url, "runs/")[1].splitlines()[1].split()[:3] == [
        "runs/r1/checkpoint",
        "3",
        "v000002",
    ]
    assert invoke("get", url, "runs/r1/checkpoint")[1].startswith("runs/r1/checkpoint@v000002 ")
    code, _, err = invoke("retract", url, "runs/r1/checkpoint", "2")
    assert code == 2 and "--reason" in err  # the reason is required


def test_get_copies_a_verified_version_out(filled: tuple[str, storage.Store], env: Path) -> None:
    url, _ = filled
    code, out, _ = invoke("get", url, "runs/r1/checkpoint", "--ref", "v1", "--out", str(env / "o"))

    assert code == 0
    assert out == f"runs/r1/checkpoint@v000001 -> {env / 'o' / 'model.bin'}\n"
    assert (env / "o" / "model.bin").read_bytes() == b"\x01" * 2048
    code, out, _ = invoke("get", url, "corpus/c1/vocab")
    assert code == 0 and out.startswith("corpus/c1/vocab@v000001 -> ")
    assert Path(out.split(" -> ")[1].strip()).read_bytes() == b"a\nb\n"


def test_gc_dry_run_then_real(filled: tuple[str, storage.Store]) -> None:
    url, store = filled
    code, out, _ = invoke("gc", url, "--keep-last", "1", "--grace-seconds", "0", "--dry-run")

    assert code == 0
    assert out.splitlines()[:2] == [
        "would delete runs/r1/checkpoint@v000001",
        "would delete runs/r1/checkpoint@v000002",
    ]
    assert out.splitlines()[2].startswith("would delete 2 versions, 2 manifests, 2 blobs")
    assert [v.number for v in store.versions("runs/r1/checkpoint")] == [1, 2, 3]

    code, out, _ = invoke("gc", url, "--keep-last", "1", "--grace-seconds", "0")
    assert code == 0 and out.splitlines()[2].startswith("deleted 2 versions")
    assert [v.number for v in store.versions("runs/r1/checkpoint")] == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log", "{url}", "runs/nope"], "error: no artifact named 'runs/nope' in store {url}"),
        (
            ["get", "{url}", "runs/r1/checkpoint", "--ref", "v9"],
            "error: runs/r1/checkpoint@v000009",
        ),
        (
            ["tag", "{url}", "runs/r1/checkpoint", "1", "latest"],
            "error: alias 'latest' is computed",
        ),
        (["gc", "{url}", "--keep-last", "0"], "error: keep_last=0: gc keeps at least"),
        (
            ["retract", "{url}", "runs/r1/checkpoint", "v7", "--reason", "x"],
            "error: runs/r1/checkpoint@v000007 is not in store",
        ),
        (
            ["gc", "{url}", "--keep-last", "1", "--pending-ttl-seconds", "-1"],
            "error: pending_ttl_seconds=-1.0: pass a number of seconds >= 0",
        ),
        (["ls", "gs://bucket/x"], "error: store URL 'gs://bucket/x' has scheme 'gs'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(
    filled: tuple[str, storage.Store], args: list[str], message: str
) -> None:
    url, _ = filled
    code, out, err = invoke(*(a.format(url=url) for a in args))

    assert code == 2
    assert out == ""
    assert err.startswith(message.format(url=url))
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.s3
def test_ls_on_s3(s3_store_url: str, env: Path) -> None:
    storage.open_store(s3_store_url, create=True).put_bytes("a/b", "x.txt", b"x")

    code, out, _ = invoke("ls", s3_store_url)

    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["a/b", "1", "v000001"]
