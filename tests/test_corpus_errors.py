"""Bad input: every case fails with a message naming the file, the place and the fix, and a
failed run leaves nothing that looks finished."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from messages import assert_names

import lightrnn.corpus.inputs
import lightrnn.corpus.shards
from lightrnn.corpus import CorpusConfig, find_splits, open_split, prepare
from lightrnn.errors import ConfigError, CorpusError, DataError


def corpus(root: Path, train: bytes, valid: bytes = b"a b\n", test: bytes = b"b a\n") -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in {"train": train, "valid": valid, "test": test}.items():
        (root / f"{name}.txt").write_bytes(data)
    return find_splits(str(root))


def fails(splits: dict, out: Path, *facts: str, cfg: CorpusConfig | None = None) -> None:
    """`prepare` refuses the corpus with a message that names each of `facts`."""
    with pytest.raises(CorpusError) as info:
        prepare(splits, str(out), cfg)
    assert_names(info.value, *facts)


def test_missing_split_names_what_was_found(tmp_path) -> None:
    (tmp_path / "train.txt").write_text("a\n")
    (tmp_path / "test.txt").write_text("a\n")
    (tmp_path / "README.md").write_text("x")
    with pytest.raises(CorpusError) as info:
        find_splits(str(tmp_path))
    assert_names(info.value, f"'{tmp_path}'", "valid.txt", "found README.md, test.txt, train.txt")
    assert_names(info.value, "NAME.train.txt", "name each split's file explicitly")
    with pytest.raises(CorpusError, match=r"need 'train' \(and optionally 'valid', 'test'\)"):
        prepare({"valid": str(tmp_path / "train.txt")}, str(tmp_path / "o"))
    with pytest.raises(CorpusError, match=r"unknown: \['dev'\]"):
        prepare({"train": str(tmp_path / "train.txt"), "dev": "x"}, str(tmp_path / "o"))
    with pytest.raises(CorpusError, match=r"corpus file '.*nope.txt' does not exist"):
        prepare({"train": str(tmp_path / "nope.txt")}, str(tmp_path / "o"))


def test_empty_file(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a b\n", valid=b"")
    fails(splits, tmp_path / "o", "valid.txt' is empty", "at least one line of text")
    with gzip.open(tmp_path / "c" / "train.txt.gz", "wb"):
        pass  # an empty file, compressed
    (tmp_path / "c" / "train.txt").unlink()
    fails({"train": str(tmp_path / "c" / "train.txt.gz")}, tmp_path / "o", "txt.gz' is empty")


def test_binary_file_names_offset_and_line(tmp_path) -> None:
    data = b"one two\nthree\nfour \x00\x01\x02 five\n"
    splits = corpus(tmp_path / "c", data)
    fails(splits, tmp_path / "o", "train.txt'", "NUL byte", "byte offset 19 (line 3)", "UTF-8")


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
        "train.txt' is not valid UTF-8",
        "b'\\xe9'",
        f"byte offset {offset:,} (line 401)",
        "iconv -f latin1 -t utf-8",  # the fixes: convert the file, or replace the bad bytes
        "lightrnn prepare --encoding-errors replace",
        "lightrnn run --set corpus.encoding_errors=replace",
        cfg=cfg,
    )
    (tmp_path / "c" / "train.txt.gz").write_bytes(gzip.compress(data))
    (tmp_path / "c" / "train.txt").unlink()
    message = f"at byte offset {offset:,} (line 401) of the decompressed text"
    fails(find_splits(str(tmp_path / "c")), tmp_path / "o", message, cfg=cfg)


def test_replace_bad_bytes_instead(tmp_path) -> None:
    splits = corpus(tmp_path / "c", "le café est là\nle\n".encode("latin-1"))
    result = prepare(splits, str(tmp_path / "o"), CorpusConfig(encoding_errors="replace"))
    assert result.splits["train"].replaced_chars == 2
    ids = open_split(str(tmp_path / "o"), "train")[:]
    assert result.vocab.decode(ids) == ["le", "caf\ufffd", "est", "l\ufffd", "<eos>", "le", "<eos>"]


def test_vocabulary_smaller_than_two_words(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a a a\na\n")
    fails(splits, tmp_path / "o", "train.txt'", "1 word ('a')", "at least 2", "min_count")
    with pytest.raises(ConfigError) as info:
        CorpusConfig(max_size=3)
    assert_names(info.value, "max_size=3", "at least 4")


def test_no_tokens_after_filtering(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"a a b\nc a\n")
    facts = ("train.txt'", "min_count=4", "'a', occurs 3 times", "lower min_count")
    fails(splits, tmp_path / "o", *facts, cfg=CorpusConfig(min_count=4))


def test_only_blank_lines(tmp_path) -> None:
    splits = corpus(tmp_path / "c", b"\n  \n\t\n")
    fails(splits, tmp_path / "o", "train.txt'", "only blank lines")


def test_compressed_data_under_a_plain_name_and_corrupt_archives(tmp_path) -> None:
    splits = corpus(tmp_path / "c", gzip.compress(b"a b\n"))
    fails(splits, tmp_path / "o", "train.txt'", "gzip", "rename it to end in .gz")
    (tmp_path / "c" / "train.txt").unlink()
    (tmp_path / "c" / "train.txt.gz").write_bytes(gzip.compress(b"a b\n" * 1000)[:30])
    fails(find_splits(str(tmp_path / "c")), tmp_path / "o", "train.txt.gz'", "truncated")


def test_a_word_without_end_is_not_text(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(lightrnn.corpus.inputs, "MAX_WORD_BYTES", 5000)
    splits = corpus(tmp_path / "c", b"ok\n" + b"x" * 20_000 + b"\n")
    cfg = CorpusConfig(block_bytes=1024, workers=1)
    fails(splits, tmp_path / "o", "train.txt'", "5,120 bytes without whitespace", cfg=cfg)


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
