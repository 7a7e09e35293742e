"""Vocabulary on disk (Arrow IPC + digest) and the Arrow-side build used for large corpora."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from lightrnn.errors import CorpusError, DataError
from lightrnn.vocab import EOS, UNK, Vocab


def small_vocab() -> Vocab:
    return Vocab.build({"the": 5, "cat": 2, "sat": 2, "é": 1, EOS: 3}, min_count=2)


@pytest.mark.parametrize("where", ["local", "memory"])
def test_save_load_round_trip(tmp_path, where: str) -> None:
    vocab = small_vocab()
    url = str(tmp_path / "v" / "vocab.arrow") if where == "local" else "memory://vt/vocab.arrow"
    vocab.save(url)
    loaded = Vocab.load(url)
    assert loaded == vocab
    assert loaded.digest() == vocab.digest()
    assert loaded.tokens == ("the", EOS, "cat", "sat", UNK)  # count desc, then token
    assert loaded.counts == (5, 3, 2, 2, 1)


def test_arrow_table_columns_and_metadata() -> None:
    vocab = small_vocab()
    table = vocab.to_arrow()
    assert table.column_names == ["token", "count", "id"]
    assert table.schema.field("id").type == pa.int32()
    assert table.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert table.schema.metadata[b"digest"].decode() == vocab.digest()
    assert Vocab.from_arrow(table) == vocab


def test_load_refuses_a_tampered_file(tmp_path) -> None:
    vocab = small_vocab()
    table = vocab.to_arrow()
    counts = table.column("count").to_pylist()
    counts[0] += 1
    bad = table.set_column(1, table.schema.field("count"), pa.array(counts, pa.int64()))
    path = tmp_path / "vocab.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, bad.schema) as writer:
        writer.write_table(bad)
    with pytest.raises(DataError, match=r"does not match its contents .* the file is corrupt"):
        Vocab.load(str(path))


def test_load_missing_and_foreign_files(tmp_path) -> None:
    with pytest.raises(DataError, match=r"vocabulary file .*nope.arrow' does not exist"):
        Vocab.load(str(tmp_path / "nope.arrow"))
    (tmp_path / "text.arrow").write_text("not arrow")
    with pytest.raises(DataError, match=r"is not an Arrow IPC file"):
        Vocab.load(str(tmp_path / "text.arrow"))
    other = pa.table({"word": ["a"]})
    with pytest.raises(DataError, match=r"is not a lightrnn vocabulary"):
        Vocab.from_arrow(other)


def test_build_from_table_equals_build() -> None:
    rng = random.Random(0)
    alphabet = ["a", "b", "é", "Z", UNK, EOS, "ab", "ß", "\U0001f600"]
    for _ in range(400):
        tokens = ["".join(rng.choices(alphabet, k=rng.randint(1, 3))) for _ in range(30)]
        counts = [rng.randint(0, 6) for _ in tokens]
        merged: dict[str, int] = {}
        for tok, n in zip(tokens, counts, strict=True):
            merged[tok] = merged.get(tok, 0) + n  # the table may repeat a token
        min_count, max_size = rng.randint(1, 4), rng.choice([None, 3, 4, 8, 100])
        table = pa.table({"token": tokens, "count": pa.array(counts, pa.int64())})
        expected = Vocab.build(merged, min_count, max_size)
        assert Vocab.build_from_table(table, min_count, max_size) == expected


def test_build_from_table_refuses_what_build_refuses() -> None:
    table = pa.table({"token": ["a"], "count": pa.array([1], pa.int64())})
    with pytest.raises(CorpusError, match=r"max_size=2: must leave room"):
        Vocab.build_from_table(table, max_size=2)
    with pytest.raises(CorpusError, match=r"min_count=0"):
        Vocab.build_from_table(table, min_count=0)
