"""Corpus preparation: text files -> vocabulary + Arrow shards of int32 ids, read only once.

    corpus files --read blocks--> workers: check UTF-8, tokenize, ids into a block dictionary
        (main process, in order)        |  spill local ids to scratch, return train counts
                                        v
    merged train counts --> Vocab (min_count, max_size) --> per block: map local ids to
    vocabulary ids (<unk> outside) --> shards of shard_tokens ids --> manifest.json (last)

Output layout of `prepare_corpus(splits, out_dir)` (local directory or fsspec URL):

    out_dir/vocab.arrow          token, count, id (Arrow IPC); digest in the schema metadata
    out_dir/train/00000.arrow    int32 ids, shard_tokens per file (the last one shorter)
    out_dir/valid/00000.arrow
    out_dir/test/00000.arrow
    out_dir/manifest.json        token counts, sha256 of every file, config, corpus digest

`manifest.json` is written last and marks a finished corpus; every file is written under a
temporary name and renamed, and a new run first removes the old manifest.

Memory is bounded by: `block_bytes` x (2 x workers) of text in flight, one block's arrays per
worker, one shard buffer (4 x shard_tokens bytes), and the distinct training tokens with their
counts (which grow far slower than the corpus). Local ids wait in `tmp_dir` between the passes
(4 bytes per token). Blocks are cut and results merged in file order, so the output is the
same byte for byte whatever the number of workers or the block size.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightrnn.corpus_input import (
    SPLITS,
    Block,
    TextProblem,
    check_text,
    find_splits,
    input_size,
    problem_error,
    read_blocks,
)
from lightrnn.errors import ConfigError, CorpusError
from lightrnn.shards import (
    MANIFEST,
    VOCAB_FILE,
    ShardInfo,
    ShardStream,
    ShardWriter,
    SplitInfo,
    corpus_digest,
    manifest_json,
    open_split,
    read_manifest,
    write_atomic,
)
from lightrnn.tokenize import TOKENIZERS, make_tokenizer, tokenize_block
from lightrnn.vocab import EOS, UNK, Vocab

__all__ = [
    "CorpusConfig",
    "PreparedCorpus",
    "ShardInfo",
    "SplitInfo",
    "find_splits",
    "load_corpus",
    "open_split",
    "prepare_corpus",
]

Progress = Callable[[int, int], None]  # (bytes_done, bytes_total) of the input files as stored


@dataclass(frozen=True)
class CorpusConfig:
    """How to turn text into ids. Every field but `workers`, `block_bytes` and `tmp_dir`
    changes the output; those three only change speed and scratch space."""

    tokenizer: str = "whitespace"  # a name in lightrnn.tokenize.TOKENIZERS
    lowercase: bool = False  # lowercase the text before splitting it
    min_count: int = 1  # training words seen fewer times become <unk>
    max_size: int | None = None  # most vocabulary entries, <unk> and <eos> included
    shard_tokens: int = 1 << 22  # ids per shard file (16 MiB of int32)
    workers: int | None = None  # tokenizing processes; None = the cores this process may use
    encoding_errors: Literal["strict", "replace"] = "strict"  # replace: bad bytes -> U+FFFD
    block_bytes: int = 8 << 20  # text per unit of work, cut at a line end
    tmp_dir: str | None = None  # local scratch for ids between the passes (None: system temp)

    def __post_init__(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise ConfigError(
                f"tokenizer={self.tokenizer!r}: choose one of {', '.join(sorted(TOKENIZERS))}"
            )
        if self.encoding_errors not in ("strict", "replace"):
            raise ConfigError(
                f"encoding_errors={self.encoding_errors!r}: choose 'strict' (stop at the first "
                "byte that is not UTF-8) or 'replace' (replace it with U+FFFD)"
            )
        if self.min_count < 1:
            raise ConfigError(f"min_count={self.min_count}: must be at least 1")
        if self.max_size is not None and self.max_size < 4:
            raise ConfigError(
                f"max_size={self.max_size}: the vocabulary needs {UNK}, {EOS} and at least 2 "
                "words, so max_size must be at least 4 (or None for no limit)"
            )
        if not 1 <= self.shard_tokens <= 1 << 28:
            raise ConfigError(f"shard_tokens={self.shard_tokens}: must be in [1, 2**28]")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers={self.workers}: must be at least 1 (or None for all)")
        if not 1 <= self.block_bytes <= 1 << 30:
            raise ConfigError(f"block_bytes={self.block_bytes}: must be in [1, 2**30]")

    def output_settings(self) -> dict:
        """The fields that decide the output (recorded in the manifest)."""
        keep = ("tokenizer", "lowercase", "min_count", "max_size", "shard_tokens")
        return {k: v for k, v in asdict(self).items() if k in keep} | {
            "encoding_errors": self.encoding_errors
        }


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
    """Read back what `prepare_corpus` wrote (manifest and vocabulary)."""
    manifest = read_manifest(corpus_dir)
    vocab = Vocab.load(f"{corpus_dir.rstrip('/')}/{VOCAB_FILE}")
    splits = {s: SplitInfo.from_json(d) for s, d in manifest["splits"].items()}
    return PreparedCorpus(corpus_dir, vocab, splits, manifest["digest"])


@dataclass(frozen=True)
class _Job:
    """One block for a worker; `spill` is the scratch path prefix for its local ids."""

    split: str
    url: str
    block: Block
    spill: str
    count: bool  # return the block's counts (training split only)
    tokenizer: str
    lowercase: bool
    encoding_errors: str


@dataclass(frozen=True)
class _Done:
    tokens: int = 0
    lines: int = 0
    replaced: int = 0
    counts: pa.Table | None = None
    problem: TextProblem | None = None


def _tokenize_job(job: _Job) -> _Done:
    """Worker side: check, tokenize, spill the local ids and dictionary, return counts."""
    text, problem, replaced = check_text(job.block.load(job.url), job.encoding_errors)
    if problem is not None:
        return _Done(problem=problem)
    block = tokenize_block(text, make_tokenizer(job.tokenizer, job.lowercase), job.block.ends_line)
    block.ids.tofile(f"{job.spill}.ids")
    with pa.ipc.new_file(f"{job.spill}.dict", pa.schema([("token", pa.string())])) as writer:
        writer.write_batch(pa.record_batch([block.dictionary], names=["token"]))
    counts = block.counts() if job.count else None
    return _Done(len(block.ids), block.n_lines, replaced, counts)


class _Counts:
    """Training token counts merged across blocks; memory ~ distinct tokens, not corpus size."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.merged_rows = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.rows += len(table)
        if self.rows > max(1 << 20, 2 * self.merged_rows):
            self._merge()

    def _merge(self) -> None:
        merged = pa.concat_tables(self.tables).group_by("token").aggregate([("count", "sum")])
        merged = merged.rename_columns(["token", "count"])
        self.tables, self.rows, self.merged_rows = [merged], len(merged), len(merged)

    def table(self) -> pa.Table:
        self._merge()
        return self.tables[0]


@dataclass
class _Pass:
    """Per-split totals from the tokenizing pass, and its blocks in order."""

    url: str
    tokens: int = 0
    lines: int = 0
    replaced: int = 0
    spills: list[str] = field(default_factory=list)


def _worker_count(cfg: CorpusConfig) -> int:
    if cfg.workers is not None:
        return cfg.workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _ordered(jobs: Iterator[_Job], workers: int) -> Iterator[tuple[_Job, _Done]]:
    """(job, result) in job order; at most workers + 1 blocks in flight: bounded memory."""
    if workers == 1:
        for job in jobs:
            yield job, _tokenize_job(job)
        return
    # forkserver/spawn, never fork: the caller may run threads (Prefect, Arrow) that fork breaks
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # workers then start with the library imported, not re-import it
        context.set_forkserver_preload(["lightrnn.corpus"])
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending: deque = deque()
            for job in jobs:
                pending.append((job, pool.submit(_tokenize_job, job)))
                if len(pending) > workers:
                    done_job, result = pending.popleft()
                    yield done_job, result.result()
            while pending:
                done_job, result = pending.popleft()
                yield done_job, result.result()
    except BrokenProcessPool:
        raise CorpusError(
            "a tokenizing worker process died (out of memory, or prepare_corpus was called at "
            "the top level of a script: call it under `if __name__ == '__main__':`); "
            "fix that, or set workers=1"
        ) from None


def _tokenize_all(
    splits: Mapping[str, str], cfg: CorpusConfig, scratch: str, progress: Progress | None
) -> tuple[dict[str, _Pass], pa.Table]:
    """First pass over every split: spilled local ids per block and the training counts."""
    total = sum(input_size(url) for url in splits.values())
    done = 0

    def jobs() -> Iterator[_Job]:
        for split, url in splits.items():
            for block in read_blocks(url, cfg.block_bytes):
                spill = os.path.join(scratch, f"{split}-{block.index:07d}")
                yield _Job(
                    split, url, block, spill, split == "train", cfg.tokenizer, cfg.lowercase,
                    cfg.encoding_errors,
                )  # fmt: skip

    workers = _worker_count(cfg) if total > cfg.block_bytes else 1
    passes = {split: _Pass(url) for split, url in splits.items()}
    counts = _Counts()
    for job, result in _ordered(jobs(), workers):
        state = passes[job.split]
        if result.problem is not None:
            raise problem_error(job.url, result.problem, job.block, state.lines)
        done += job.block.stored_bytes
        if progress is not None:
            progress(min(done, total), total)
        state.tokens += result.tokens
        state.lines += result.lines
        state.replaced += result.replaced
        state.spills.append(job.spill)
        if result.counts is not None:
            counts.add(result.counts)
    return passes, counts.table()


def _build_vocab(counts: pa.Table, train: _Pass, cfg: CorpusConfig) -> Vocab:
    """The vocabulary from the training counts, refusing one with fewer than 2 words."""
    if train.tokens == train.lines:
        raise CorpusError(
            f"corpus file {train.url!r} has no words, only blank lines: pass a training file "
            "with text"
        )
    vocab = Vocab.build_from_table(counts, cfg.min_count, cfg.max_size)
    words = [t for t in vocab.tokens if t not in (UNK, EOS)]
    if not words:
        top = counts.sort_by([("count", "descending"), ("token", "ascending")]).slice(0, 1)
        raise CorpusError(
            f"no tokens after filtering {train.url!r}: no word occurs min_count="
            f"{cfg.min_count} times (the most frequent, {top['token'][0].as_py()!r}, occurs "
            f"{top['count'][0].as_py()} times); lower min_count or use a larger corpus"
        )
    if len(words) < 2:
        raise CorpusError(
            f"the vocabulary of {train.url!r} has 1 word ({words[0]!r}) besides {UNK} and "
            f"{EOS}: a language model needs at least 2; use a larger corpus or a lower min_count"
        )
    return vocab


def _write_split(
    fs: fsspec.AbstractFileSystem,
    root: str,
    split: str,
    state: _Pass,
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
        source=state.url,
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


def prepare_corpus(
    splits: Mapping[str, str],
    out_dir: str,
    cfg: CorpusConfig | None = None,
    progress: Progress | None = None,
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
        passes, counts = _tokenize_all(splits, cfg, scratch, progress)
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
