"""Corpus preparation: text files -> vocabulary + Arrow shards of int32 ids, read only once.

    corpus files --read blocks--> workers: check UTF-8, tokenize, ids into a block dictionary
        (main process, in order)        |  spill local ids to scratch, return train counts
                                        v
    merged train counts --> Vocab (min_count, max_size) --> per block: map local ids to
    vocabulary ids (<unk> outside) --> shards of shard_tokens ids --> manifest.json (last)

Output layout of `prepare(splits, out_dir)` (local directory or fsspec URL):

    out_dir/vocab.arrow          token, count, id (Arrow IPC); digest in the schema metadata
    out_dir/train/00000.arrow    int32 ids, shard_tokens per file (the last one shorter)
    out_dir/valid/00000.arrow
    out_dir/test/00000.arrow
    out_dir/manifest.json        token counts, sha256 of every file, config, corpus digest

`manifest.json` is written last and marks a finished corpus: every file is written under a
temporary name and renamed, and a run removes the old manifest before it writes anything (bad
input is found before that, so a run that refuses its input leaves an earlier corpus intact).

Memory is bounded whatever the corpus size: workers + 1 blocks of `block_bytes` in flight (a
plain local file is read by the workers themselves, so its text never passes through the main
process), one block's arrays per worker, at most three shard buffers of 4 x shard_tokens bytes,
and the distinct training tokens with their counts, which grow far slower than the corpus
(200k types: ~20 MB). Local ids wait in `tmp_dir` between the passes (4 bytes per token, freed
as shards are written). Blocks are cut and results merged in file order, so the output is the
same byte for byte whatever the number of workers or the block size.

With workers > 1, a script that calls `prepare` must do so under
`if __name__ == "__main__":` (as for any multiprocessing code); the `lightrnn` command does.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightrnn.corpus.config import CorpusConfig
from lightrnn.corpus.inputs import SPLITS, shown
from lightrnn.corpus.passes import SplitPass, tokenize_splits
from lightrnn.corpus.shards import (
    MANIFEST,
    VOCAB_FILE,
    ShardStream,
    ShardWriter,
    SplitInfo,
    corpus_digest,
    manifest_json,
    open_split,
    read_manifest,
    write_atomic,
)
from lightrnn.errors import CorpusError
from lightrnn.progress import ProgressFn
from lightrnn.vocab import EOS, UNK, Vocab


@dataclass(frozen=True)
class PreparedCorpus:
    """A finished corpus directory: its vocabulary, its splits and the digest that names it."""

    root: str
    vocab: Vocab
    splits: dict[str, SplitInfo]
    digest: str

    def stream(self, split: str) -> ShardStream:
        return open_split(self.root, split)


def load_corpus(corpus_dir: str) -> PreparedCorpus:
    """Read back what `prepare` wrote (manifest and vocabulary)."""
    manifest = read_manifest(corpus_dir)
    vocab = Vocab.load(f"{corpus_dir.rstrip('/')}/{VOCAB_FILE}")
    splits = {s: SplitInfo.from_json(d) for s, d in manifest["splits"].items()}
    return PreparedCorpus(corpus_dir, vocab, splits, manifest["digest"])


def _build_vocab(counts: pa.Table, train: SplitPass, cfg: CorpusConfig) -> Vocab:
    """The vocabulary from the training counts, refusing one with fewer than 2 words."""
    if train.tokens == train.lines:
        raise CorpusError(
            f"corpus file {shown(train.url)!r} has no words, only blank lines: pass a training "
            "file "
            "with text"
        )
    vocab = Vocab.build_from_table(counts, cfg.min_count, cfg.max_size)
    words = [t for t in vocab.tokens if t not in (UNK, EOS)]
    if not words:
        top = counts.sort_by([("count", "descending"), ("token", "ascending")]).slice(0, 1)
        raise CorpusError(
            f"no tokens after filtering {shown(train.url)!r}: no word occurs min_count="
            f"{cfg.min_count} times (the most frequent, {top['token'][0].as_py()!r}, occurs "
            f"{top['count'][0].as_py()} times); lower min_count or use a larger corpus"
        )
    if len(words) < 2:
        raise CorpusError(
            f"the vocabulary of {shown(train.url)!r} has 1 word ({words[0]!r}) besides {UNK} and "
            f"{EOS}: a language model needs at least 2; use a larger corpus or a lower min_count"
        )
    return vocab


def _write_split(
    fs: fsspec.AbstractFileSystem,
    root: str,
    split: str,
    state: SplitPass,
    vocab: Vocab,
    cfg: CorpusConfig,
) -> SplitInfo:
    """Second pass: map each block's local ids to vocabulary ids and write the shards."""
    vocab_tokens = pa.array(vocab.tokens, pa.string())
    unk = 0
    with ShardWriter(fs, root, split, cfg.shard_tokens, vocab.digest()) as writer:
        for spill in state.spills:
            with pa.memory_map(f"{spill}.dict") as source:
                dictionary = pa.ipc.open_file(source).read_all().column(0)
            lut = pc.index_in(dictionary, value_set=vocab_tokens).fill_null(vocab.unk_id)
            ids = lut.to_numpy().astype(np.int32)[np.fromfile(f"{spill}.ids", dtype=np.int32)]
            unk += int(np.count_nonzero(ids == vocab.unk_id))
            writer.write(ids)
            os.remove(f"{spill}.ids")  # free scratch space as we go
            os.remove(f"{spill}.dict")
        shards = writer.close()
    return SplitInfo(
        tokens=state.tokens,
        lines=state.lines,
        unk_tokens=unk,
        replaced_chars=state.replaced,
        sha256=writer.sha256,
        source=shown(state.url),
        shards=shards,
    )


def _clear(fs: fsspec.AbstractFileSystem, root: str) -> None:
    """Remove what an earlier run left: the manifest first, so nothing looks finished."""
    for rel in (MANIFEST, VOCAB_FILE):
        if fs.exists(f"{root}/{rel}"):
            fs.rm(f"{root}/{rel}")
    for split in SPLITS:
        if fs.exists(f"{root}/{split}"):
            for path in fs.ls(f"{root}/{split}", detail=False):
                if ".arrow" in path.rsplit("/", 1)[-1]:
                    fs.rm(path)


def prepare(
    splits: Mapping[str, str],
    out_dir: str,
    cfg: CorpusConfig | None = None,
    progress: ProgressFn | None = None,
) -> PreparedCorpus:
    """Tokenize `splits` ({"train": url, "valid": url, "test": url}; valid and test optional)
    into a vocabulary built on train and int32 shards under `out_dir` (layout: module doc)."""
    cfg = cfg or CorpusConfig()
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or "train" not in splits:
        raise CorpusError(
            f"splits {sorted(splits)}: need 'train' (and optionally 'valid', 'test'), "
            f"unknown: {unknown or 'none'}; name the file of each split, e.g. with find_splits"
        )
    splits = {s: splits[s] for s in SPLITS if s in splits}  # train first: fixed order
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="lightrnn-prepare-", dir=cfg.tmp_dir) as scratch:
        passes, counts = tokenize_splits(splits, cfg, scratch, progress)
        vocab = _build_vocab(counts, passes["train"], cfg)
        fs.makedirs(root, exist_ok=True)
        _clear(fs, root)
        try:
            vocab_bytes = vocab.to_ipc()
            write_atomic(fs, f"{root}/{VOCAB_FILE}", vocab_bytes)
            infos = {s: _write_split(fs, root, s, passes[s], vocab, cfg) for s in splits}
            digest = corpus_digest(vocab.digest(), infos)
            vocab_entry = {
                "file": VOCAB_FILE,
                "size": len(vocab),
                "digest": vocab.digest(),
                "sha256": hashlib.sha256(memoryview(vocab_bytes)).hexdigest(),
            }
            tokenizer = {"name": cfg.tokenizer, "lowercase": cfg.lowercase} | _library(cfg)
            manifest = manifest_json(digest, vocab_entry, infos, cfg.output_settings(), tokenizer)
            write_atomic(fs, f"{root}/{MANIFEST}", manifest)
        except BaseException:
            _clear(fs, root)  # best effort; without a manifest nothing looks finished anyway
            raise
    return PreparedCorpus(out_dir, vocab, infos, digest)


def _library(cfg: CorpusConfig) -> dict:
    """The library that did the splitting, with its version: provenance for the manifest."""
    if cfg.tokenizer == "raw":
        import tokenizers

        return {"library": f"tokenizers {tokenizers.__version__}"}
    return {"library": f"pyarrow {pa.__version__}"}
