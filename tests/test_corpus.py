"""Corpus preparation on the real corpora: exact published counts, round trip, same bytes.

The counts are those of ../shared/data/{ptb,wikitext-2}/README.md (Python whitespace split +
one <eos> per line, blank lines included); WikiText-2 is also bundled (xz) in data/.
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import numpy as np
import pytest

from lightrnn.corpus import CorpusConfig, find_splits, load_corpus, open_split, prepare
from lightrnn.data import Batches
from lightrnn.vocab import EOS, UNK

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BUNDLED_WT2 = REPO / "data" / "wikitext-2"

PTB = {"train": 929_589, "valid": 73_760, "test": 82_430}
PTB_UNK = {"train": 45_020, "valid": 3_485, "test": 4_794}
WT2 = {"train": 2_088_628, "valid": 217_646, "test": 245_569}
WT2_UNK = {"train": 54_625, "valid": 11_718, "test": 15_218}


def shared(name: str) -> Path:
    path = SHARED / name
    if not (path / "train.txt").exists():
        pytest.skip(f"{path} is not there (the shared corpora live beside the repository)")
    return path


def reference_tokens(text: str) -> list[str]:
    return [tok for line in text.split("\n")[:-1] for tok in [*line.split(), EOS]]


def all_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_ptb_exact_counts(tmp_path) -> None:
    result = prepare(find_splits(str(shared("ptb"))), str(tmp_path), CorpusConfig())
    assert len(result.vocab) == 10_000
    assert {s: info.tokens for s, info in result.splits.items()} == PTB
    assert {s: info.unk_tokens for s, info in result.splits.items()} == PTB_UNK
    assert result.splits["train"].lines == 42_068
    assert {s: len(open_split(str(tmp_path), s)) for s in PTB} == PTB


def test_wikitext2_exact_counts_from_the_bundled_xz(tmp_path) -> None:
    result = prepare(find_splits(str(BUNDLED_WT2)), str(tmp_path), CorpusConfig())
    assert len(result.vocab) == 33_278
    assert {s: info.tokens for s, info in result.splits.items()} == WT2
    assert {s: info.unk_tokens for s, info in result.splits.items()} == WT2_UNK
    assert result.splits["train"].lines == 36_718  # blank lines included


def test_wikitext2_plain_and_xz_give_the_same_corpus(tmp_path) -> None:
    plain = prepare(find_splits(str(shared("wikitext-2"))), str(tmp_path / "p"))
    packed = prepare(find_splits(str(BUNDLED_WT2)), str(tmp_path / "x"))
    assert plain.digest == packed.digest
    assert {s: i.tokens for s, i in plain.splits.items()} == WT2


def test_round_trip_decodes_to_the_original_tokens(tmp_path) -> None:
    cfg = CorpusConfig(shard_tokens=100_000)  # several shards: slices cross their boundaries
    result = prepare(find_splits(str(BUNDLED_WT2)), str(tmp_path), cfg)
    for split, (start, stop) in {"train": (1_399_000, 1_401_000), "test": (0, 245_569)}.items():
        text = lzma.decompress((BUNDLED_WT2 / f"{split}.txt.xz").read_bytes()).decode()
        expected = reference_tokens(text)[start:stop]
        stream = open_split(str(tmp_path), split)
        got = result.vocab.decode(stream[start:stop])
        assert got == expected  # every word is in the vocabulary: no <unk> substitution
    assert len(result.splits["train"].shards) == 21


def test_same_bytes_whatever_the_workers_and_block_size(tmp_path) -> None:
    splits = find_splits(str(shared("ptb")))
    runs = {
        "one": CorpusConfig(workers=1, shard_tokens=300_000),
        "two": CorpusConfig(workers=2, block_bytes=1 << 20, shard_tokens=300_000),
        "small": CorpusConfig(workers=1, block_bytes=100_003, shard_tokens=300_000),
    }
    digests = {prepare(splits, str(tmp_path / n), cfg).digest for n, cfg in runs.items()}
    assert len(digests) == 1
    one = all_bytes(tmp_path / "one")
    assert len(one) == 8  # vocab, manifest, 4 train shards, valid, test
    assert all_bytes(tmp_path / "two") == one
    assert all_bytes(tmp_path / "small") == one


def test_oov_words_in_valid_and_test_map_to_unk(tmp_path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text("the cat sat\nthe dog sat\n")
    (tmp_path / "c" / "valid.txt").write_text("the bird sat\n")
    (tmp_path / "c" / "test.txt").write_text("a cow\n")
    result = prepare(find_splits(str(tmp_path / "c")), str(tmp_path / "out"))
    vocab = result.vocab
    assert vocab.tokens == (EOS, "sat", "the", "cat", "dog", UNK)  # ties: "<" sorts first
    assert vocab.decode(open_split(str(tmp_path / "out"), "valid")[:]) == ["the", UNK, "sat", EOS]
    assert vocab.decode(open_split(str(tmp_path / "out"), "test")[:]) == [UNK, UNK, EOS]
    assert result.splits["test"].unk_tokens == 2


def test_min_count_and_max_size(tmp_path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text("a a a b b c\nd a b\n")
    for name in ("valid", "test"):
        (tmp_path / "c" / f"{name}.txt").write_text("a\n")
    splits = find_splits(str(tmp_path / "c"))
    by_count = prepare(splits, str(tmp_path / "m"), CorpusConfig(min_count=2)).vocab
    assert dict(zip(by_count.tokens, by_count.counts, strict=True)) == {
        "a": 4, "b": 3, EOS: 2, UNK: 2,
    }  # fmt: skip
    by_size = prepare(splits, str(tmp_path / "s"), CorpusConfig(max_size=4)).vocab
    assert by_size.tokens == ("a", "b", EOS, UNK) and by_size.counts == (4, 3, 2, 2)
    ids = open_split(str(tmp_path / "s"), "train")[:]
    assert by_size.decode(ids) == ["a", "a", "a", "b", "b", UNK, EOS, UNK, "a", "b", EOS]


def test_lowercase_and_raw_tokenizer(tmp_path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text("The cat, the Cat.\n")
    for name in ("valid", "test"):
        (tmp_path / "c" / f"{name}.txt").write_text("THE CAT!\n")
    cfg = CorpusConfig(tokenizer="raw", lowercase=True)
    result = prepare(find_splits(str(tmp_path / "c")), str(tmp_path / "o"), cfg)
    assert result.vocab.decode(open_split(str(tmp_path / "o"), "train")[:]) == [
        "the", "cat", ",", "the", "cat", ".", EOS,
    ]  # fmt: skip
    assert result.vocab.decode(open_split(str(tmp_path / "o"), "valid")[:]) == [
        "the", "cat", UNK, EOS,
    ]  # fmt: skip
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["tokenizer"]["name"] == "raw" and manifest["config"]["lowercase"] is True


def test_layout_manifest_and_load(tmp_path) -> None:
    result = prepare(find_splits(str(shared("ptb"))), str(tmp_path), CorpusConfig())
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert names == [
        "manifest.json", "test/00000.arrow", "train/00000.arrow", "valid/00000.arrow",
        "vocab.arrow",
    ]  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["digest"] == result.digest
    assert manifest["vocab"]["size"] == 10_000
    assert manifest["splits"]["train"]["tokens"] == PTB["train"]
    loaded = load_corpus(str(tmp_path))
    assert loaded.vocab == result.vocab and loaded.splits == result.splits
    assert loaded.digest == result.digest


def test_batches_read_the_shards(tmp_path) -> None:
    result = prepare(find_splits(str(shared("ptb"))), str(tmp_path), CorpusConfig())
    stream = open_split(str(tmp_path), "valid")
    batches = Batches(stream, batch_size=20, bptt=35, vocab_size=len(result.vocab))
    first = batches.window(0)
    assert tuple(first.shape) == (20, 35)
    row_len = PTB["valid"] // 20
    np.testing.assert_array_equal(first[1].numpy(), stream[row_len : row_len + 35])
    assert result.vocab.decode(first[0, :3].tolist()) == ["consumers", "may", "want"]


def test_progress_reports_bytes_up_to_the_total(tmp_path) -> None:
    calls: list[tuple[int, int]] = []
    splits = find_splits(str(BUNDLED_WT2))
    cfg = CorpusConfig(block_bytes=1 << 20)
    prepare(splits, str(tmp_path), cfg, progress=lambda d, t: calls.append((d, t)))
    total = sum((BUNDLED_WT2 / f"{s}.txt.xz").stat().st_size for s in ("train", "valid", "test"))
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) > 10
