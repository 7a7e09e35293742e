"""Corpus input: split discovery, compressed and remote files, and blocks cut anywhere giving
the same tokens."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from pathlib import Path

import fsspec
import pytest
import zstandard

from lightrnn.corpus import CorpusConfig, find_splits, open_split, prepare
from lightrnn.corpus.inputs import read_blocks
from lightrnn.errors import CorpusError
from lightrnn.vocab import EOS

TEXT = "the cat sat on the mat\n\n  a  dog , é ü\n" * 200 + "last line without newline"


def reference(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [tok for line in lines for tok in [*line.split(), EOS]]


def decoded(out: Path, split: str, vocab) -> list[str]:
    return vocab.decode(open_split(str(out), split)[:])


def write_corpus(root: Path, suffix: str = "", compress=lambda b: b, text: str = TEXT) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid", "test"):
        (root / f"{name}.txt{suffix}").write_bytes(compress(text.encode()))
    return find_splits(str(root))


@pytest.mark.parametrize(
    "names",
    [
        ["train.txt", "valid.txt", "test.txt"],
        ["train.txt.gz", "valid.txt.bz2", "test.txt.xz"],
        ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt.zst"],
        ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"],
    ],
)
def test_find_splits_accepts_the_usual_names(tmp_path, names: list[str]) -> None:
    for name in [*names, "README.md", "training-notes.txt"]:
        (tmp_path / name).write_text("x\n")
    found = find_splits(str(tmp_path))
    assert found == {
        s: str(tmp_path / n) for s, n in zip(("train", "valid", "test"), names, strict=True)
    }


def test_find_splits_refuses_ambiguity_and_non_directories(tmp_path) -> None:
    for name in ("train.txt", "train.txt.gz", "valid.txt", "test.txt"):
        (tmp_path / name).write_text("x\n")
    with pytest.raises(CorpusError, match=r"has several train files \(train.txt, train.txt.gz\)"):
        find_splits(str(tmp_path))
    with pytest.raises(CorpusError, match=r"corpus directory '.*nowhere' does not exist"):
        find_splits(str(tmp_path / "nowhere"))
    with pytest.raises(CorpusError, match=r"is a file, not a directory"):
        find_splits(str(tmp_path / "valid.txt"))


def test_find_splits_on_an_fsspec_url() -> None:
    fs = fsspec.filesystem("memory")
    for name in ("train.txt", "valid.txt.gz", "test.txt"):
        fs.pipe(f"/fsc/{name}", b"x\n")
    assert find_splits("memory://fsc") == {
        "train": "memory://fsc/train.txt",
        "valid": "memory://fsc/valid.txt.gz",
        "test": "memory://fsc/test.txt",
    }


def test_every_compression_gives_the_same_shards(tmp_path) -> None:
    def zstd_two_frames(data: bytes) -> bytes:  # multi-frame files are common (pzstd, zstd -T)
        half = len(data) // 2
        c = zstandard.ZstdCompressor()
        return c.compress(data[:half]) + c.compress(data[half:])

    formats = {
        "": lambda b: b,
        ".gz": gzip.compress,
        ".bz2": bz2.compress,
        ".xz": lzma.compress,
        ".zst": zstd_two_frames,
    }
    digests = set()
    for suffix, compress in formats.items():
        splits = write_corpus(tmp_path / f"c{suffix}", suffix, compress)
        cfg = CorpusConfig(block_bytes=1000)  # many blocks
        result = prepare(splits, str(tmp_path / f"o{suffix}"), cfg)
        assert decoded(tmp_path / f"o{suffix}", "train", result.vocab) == reference(TEXT)
        digests.add(result.digest)
    assert len(digests) == 1


@pytest.mark.parametrize("suffix", ["", ".gz"])  # byte ranges read by workers / streamed text
def test_blocks_cut_inside_long_lines_keep_every_token(tmp_path, suffix: str) -> None:
    long_line = " ".join(f"w{i % 97}" for i in range(30_000))  # ~150 kB, no newline
    text = "\ufeffshort line\n" + long_line + "\n" + "x y\n" * 3 + long_line  # BOM, no final \n
    compress = gzip.compress if suffix else (lambda b: b)
    splits = write_corpus(tmp_path / "c", suffix, compress, text)
    blocks = list(read_blocks(splits["train"], 4096))
    assert len(blocks) == 59 and not all(b.ends_line for b in blocks)  # ~240 kB / 4 KiB
    result = prepare(splits, str(tmp_path / "o"), CorpusConfig(block_bytes=4096))
    assert decoded(tmp_path / "o", "train", result.vocab) == reference(text[1:])  # BOM dropped
    assert result.splits["train"].lines == 6


def test_windows_line_ends_count_like_unix_ones(tmp_path) -> None:
    splits = write_corpus(tmp_path / "c", text="a b\r\nc\r\n\r\n")
    result = prepare(splits, str(tmp_path / "o"))
    assert decoded(tmp_path / "o", "train", result.vocab) == ["a", "b", EOS, "c", EOS, EOS]


def test_memory_urls_in_and_out(tmp_path) -> None:
    fs = fsspec.filesystem("memory")
    for name in ("train", "valid", "test"):
        fs.pipe(f"/mem-in/{name}.txt.xz", lzma.compress(TEXT.encode()))
    result = prepare(find_splits("memory://mem-in"), "memory://mem-out")
    local = prepare(write_corpus(tmp_path / "c"), str(tmp_path / "o"))
    assert result.digest == local.digest
    stream = open_split("memory://mem-out", "valid", cache_dir=str(tmp_path / "cache"))
    assert result.vocab.decode(stream[:]) == reference(TEXT)
    assert fs.exists("/mem-out/manifest.json")


@pytest.mark.s3
def test_s3_in_and_out(tmp_path, s3_store_url: str) -> None:
    fs, _ = fsspec.core.url_to_fs(s3_store_url)
    for name in ("train", "valid", "test"):
        fs.pipe(f"{s3_store_url}/corpus/{name}.txt.gz", gzip.compress(TEXT.encode()))
    splits = find_splits(f"{s3_store_url}/corpus")
    assert re.fullmatch(r"s3://.*/corpus/train\.txt\.gz", splits["train"])
    result = prepare(splits, f"{s3_store_url}/out", CorpusConfig(workers=2))
    local = prepare(write_corpus(tmp_path / "c"), str(tmp_path / "o"))
    assert result.digest == local.digest
    stream = open_split(f"{s3_store_url}/out", "train", verify=True)
    assert result.vocab.decode(stream[:]) == reference(TEXT)
