"""Bad input: every case fails with a message naming the file, the place and the fix, and a
failed run leaves nothing that looks finished."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

import lightrnn.corpus.inputs
import lightrnn.corpus.shards
from lightrnn.corpus import CorpusConfig, find_splits, open_split, prepare
from lightrnn.errors import ConfigError, CorpusError, DataError


def corpus(root: Path, train: bytes, valid: bytes = b"a b\n", test: bytes = b"b a\n") -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in {"train": train, "valid": valid, "test": test}.items():
        (root / f"{name}.txt").write_bytes(data)
    return find_splits(str(root))


def fails(splits: dict, out: Path, pattern: str, cfg: CorpusConfig | None = None) -> None:
    with pytest.raises(CorpusError, match=pattern):
        prepare(splits, str(out), cfg)


def test_missing_split_names_what_was_found(tmp_path) -> None:
    (tmp_path / "train.txt").write_text("a\n")
    (tmp_path / "test.txt").write_text("a\n")
    (tmp_path / "README.md").write_text("x")
    with pytest.raises(
        CorpusError,
        match=re.escape(
            f"corpus directory '{tmp_path}' has no valid file: expected train.txt, valid.txt, "
            "test.txt (or .gz/.bz2/.xz/.zst, or NAME.train.txt/.tokens); found README.md, "
            "test.txt, train.txt. Add the file or name each split's file explicitly"
        ),
    ):
        find_splits(str(tmp_path))
    with pytest.raises(CorpusError, match=r"need 'train' \(and optionally 'valid', 'test'\)"):
        prepare({"valid": str(tmp_path / "train.txt")}, str(tmp_path / "o"))
    with pytest.raises(CorpusError, match=r"unknown: \['dev'\]"):
        prepare({"train": str(tmp_path / "train.txt"), "dev": "x"}, str(tmp_path / "o"))
    with pytest.raises(CorpusError, match=r"corpus file '.*nope.txt' does not exist"):
        prepare({"train": str(tmp_path / "nope.txt")}, str(tmp_path / "o"))


def test_empty_file(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a b\n", valid=b"")
    fails(
        splits, tmp_path / "o", r"valid.txt' is empty: pass a file with at least one line of text"
    )
    with gzip.open(tmp_path / "c" / "train.txt.gz", "wb"):
        pass  # an empty file, compressed
    (tmp_path / "c" / "train.txt").unlink()
    fails({"train": str(tmp_path / "c" / "train.txt.gz")}, tmp_path / "o", r"txt.gz' is empty")


def test_binary_file_names_offset_and_line(tmp_path) -> None:
    data = b"one two\nthree\nfour \x00\x01\x02 five\n"
    splits = corpus(tmp_path / "c", data)
    message = r"train.txt' looks binary: a NUL byte at byte offset 19 \(line 3\); pass a UTF-8 text"
    fails(splits, tmp_path / "o", message)


def test_non_utf8_names_offset_and_line_in_a_later_block(tmp_path) -> None:
    lines = [f"line {i} has words\n".encode() for i in range(500)]
    lines[400] = "le café est là\n".encode("latin-1")
    data = b"".join(lines)
    offset = data.index(b"\xe9")
    splits = corpus(tmp_path / "c", data)
    cfg = CorpusConfig(block_bytes=1000, workers=1)
    fails(
        splits,
        tmp_path / "o",
        rf"train.txt' is not valid UTF-8: byte\(s\) b'\\xe9' at byte offset {offset:,} "
        r"\(line 401\); convert it to UTF-8 \(for example iconv -f latin1 -t utf-8\) or set "
        r"encoding_errors='replace' to replace bad bytes with U\+FFFD \(lightrnn prepare "
        r"--encoding-errors replace; lightrnn run --set corpus.encoding_errors=replace\)",
        cfg,
    )
    (tmp_path / "c" / "train.txt.gz").write_bytes(gzip.compress(data))
    (tmp_path / "c" / "train.txt").unlink()
    message = rf"at byte offset {offset:,} \(line 401\) of the decompressed text"
    fails(find_splits(str(tmp_path / "c")), tmp_path / "o", message, cfg)


def test_replace_bad_bytes_instead(tmp_path) -> None:
    splits = corpus(tmp_path / "c", "le café est là\nle\n".encode("latin-1"))
    result = prepare(splits, str(tmp_path / "o"), CorpusConfig(encoding_errors="replace"))
    assert result.splits["train"].replaced_chars == 2
    ids = open_split(str(tmp_path / "o"), "train")[:]
    assert result.vocab.decode(ids) == ["le", "caf\ufffd", "est", "l\ufffd", "<eos>", "le", "<eos>"]


def test_vocabulary_smaller_than_two_words(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a a a\na\n")
    message = (
        r"the vocabulary of '.*train.txt' has 1 word \('a'\) besides <unk> and <eos>: a language "
        r"model needs at least 2; use a larger corpus or a lower min_count"
    )
    fails(splits, tmp_path / "o", message)
    message = r"max_size=3: the vocabulary needs <unk>, <eos> and at least 2 words, so max_size"
    with pytest.raises(ConfigError, match=message + r" must be at least 4 \(or None"):
        CorpusConfig(max_size=3)


def test_no_tokens_after_filtering(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a a b\nc a\n")
    message = (
        r"no tokens after filtering '.*train.txt': no word occurs min_count=4 times \(the most "
        r"frequent, 'a', occurs 3 times\); lower min_count or use a larger corpus"
    )
    fails(splits, tmp_path / "o", message, CorpusConfig(min_count=4))


def test_only_blank_lines(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"\n  \n\t\n")
    message = r"train.txt' has no words, only blank lines: pass a training file with text"
    fails(splits, tmp_path / "o", message)


def test_compressed_data_under_a_plain_name_and_corrupt_archives(tmp_path) -> None:
    splits = corpus(tmp_path / "c", gzip.compress(b"a b\n"))
    message = r"txt' looks gzip-compressed but its name has no .gz suffix: rename it to end in .gz"
    fails(splits, tmp_path / "o", message)
    (tmp_path / "c" / "train.txt").unlink()
    (tmp_path / "c" / "train.txt.gz").write_bytes(gzip.compress(b"a b\n" * 1000)[:30])
    message = r"txt.gz': cannot decompress as gzip after \d+ bytes .* truncated or not gzip data"
    fails(find_splits(str(tmp_path / "c")), tmp_path / "o", message)


def test_a_word_without_end_is_not_text(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(lightrnn.corpus.inputs, "MAX_WORD_BYTES", 5000)
    splits = corpus(tmp_path / "c", b"ok\n" + b"x" * 20_000 + b"\n")
    cfg = CorpusConfig(block_bytes=1024, workers=1)
    message = r"train.txt': 5,120 bytes without whitespace from byte offset 3: this is not word"
    fails(splits, tmp_path / "o", message, cfg)


def test_config_is_validated_loudly() -> None:
    with pytest.raises(ConfigError, match=r"tokenizer='bpe': choose one of raw, whitespace"):
        CorpusConfig(tokenizer="bpe")
    with pytest.raises(ConfigError, match=r"encoding_errors='ignore': choose 'strict'"):
        CorpusConfig(encoding_errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"workers=0: must be at least 1"):
        CorpusConfig(workers=0)
    with pytest.raises(ConfigError, match=r"shard_tokens=0"):
        CorpusConfig(shard_tokens=0)
    with pytest.raises(ConfigError, match=r"min_count=0"):
        CorpusConfig(min_count=0)


def test_a_run_failing_while_writing_leaves_nothing_finished(tmp_path, monkeypatch) -> None:
    splits = corpus(tmp_path / "c", b"a b c d\n" * 100)
    out = tmp_path / "o"
    prepare(splits, str(out), CorpusConfig(shard_tokens=50))  # a finished earlier run
    real = lightrnn.corpus.shards.ShardWriter._write_shard

    def crash_on_third(self, ids, index, start):
        if index == 2:
            raise OSError("disk full")
        real(self, ids, index, start)

    monkeypatch.setattr(lightrnn.corpus.shards.ShardWriter, "_write_shard", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        prepare(splits, str(out), CorpusConfig(shard_tokens=50))
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == []
    with pytest.raises(DataError, match="holds no finished prepared corpus"):
        open_split(str(out), "train")


def test_leftovers_of_an_interrupted_run_are_never_read_and_get_cleared(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a b c d\n" * 100)
    out = tmp_path / "o"
    (out / "train").mkdir(parents=True)
    (out / "train" / "00000.arrow").write_bytes(b"half a shard")  # as a killed run leaves it
    (out / "train" / "00001.arrow.tmp-0123").write_bytes(b"partial")
    with pytest.raises(DataError, match="holds no finished prepared corpus"):
        open_split(str(out), "train")
    prepare(splits, str(out), CorpusConfig())
    assert sorted(p.name for p in (out / "train").iterdir()) == ["00000.arrow"]
    assert len(open_split(str(out), "train")) == 500
