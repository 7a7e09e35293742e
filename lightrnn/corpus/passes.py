"""The tokenizing pass of corpus preparation: every block of every split, read once, in order.

    main process: plan blocks ---> workers (processes): check UTF-8, tokenize, local dictionary
    (file order, <= workers + 1      + int32 local ids spilled to scratch; train counts back
     in flight)                <--- results merged in block order: split totals, train counts

A worker writes `SPILL.ids` (int32 local ids) and `SPILL.dict` (the block's dictionary, Arrow
IPC); the second pass maps them to vocabulary ids. Workers start by forkserver (spawn where
there is none), never fork: the caller may run threads (Prefect, Arrow) that fork would break.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import pyarrow as pa

from lightrnn.corpus.config import CorpusConfig
from lightrnn.corpus.inputs import (
    Block,
    TextProblem,
    check_text,
    input_size,
    problem_error,
    read_blocks,
)
from lightrnn.corpus.tokenize import make_tokenizer, tokenize_block
from lightrnn.errors import CorpusError
from lightrnn.progress import ProgressFn

# Starting workers costs ~0.3 s, the time to tokenize ~25 MB: fewer blocks run in this process.
MIN_BLOCKS_FOR_WORKERS = 5


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
    """What a worker sends back: small totals, the train counts, or why the block is not text."""

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
class SplitPass:
    """Per-split totals from the tokenizing pass, and its blocks in order."""

    url: str
    tokens: int = 0
    lines: int = 0
    replaced: int = 0
    spills: list[str] = field(default_factory=list)


def worker_count(cfg: CorpusConfig) -> int:
    """`cfg.workers`, or the cores this process may run on (its affinity, not the machine's)."""
    if cfg.workers is not None:
        return cfg.workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _ordered(jobs: Iterator[_Job], workers: int) -> Iterator[tuple[_Job, _Done]]:
    """(job, result) in job order; at most workers + 1 blocks in flight: bounded memory."""
    first = list(itertools.islice(jobs, MIN_BLOCKS_FOR_WORKERS))
    jobs = itertools.chain(first, jobs)
    if workers == 1 or len(first) < MIN_BLOCKS_FOR_WORKERS:
        for job in jobs:
            yield job, _tokenize_job(job)
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # workers then start with the library imported, not re-import it
        context.set_forkserver_preload(["lightrnn.corpus.passes"])
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
            "a tokenizing worker process died (out of memory, or prepare was called at "
            "the top level of a script: call it under `if __name__ == '__main__':`); "
            "fix that, or set workers=1"
        ) from None


def tokenize_splits(
    splits: Mapping[str, str], cfg: CorpusConfig, scratch: str, progress: ProgressFn | None
) -> tuple[dict[str, SplitPass], pa.Table]:
    """First pass over every split: spilled local ids per block and the training counts."""
    total = sum(input_size(url) for url in splits.values())
    done = 0

    def jobs() -> Iterator[_Job]:
        for split, url in splits.items():
            for block in read_blocks(url, cfg.block_bytes):
                spill = os.path.join(scratch, f"{split}-{block.index:07d}")
                yield _Job(
                    split=split,
                    url=url,
                    block=block,
                    spill=spill,
                    count=split == "train",
                    tokenizer=cfg.tokenizer,
                    lowercase=cfg.lowercase,
                    encoding_errors=cfg.encoding_errors,
                )

    passes = {split: SplitPass(url) for split, url in splits.items()}
    counts = _Counts()
    for job, result in _ordered(jobs(), worker_count(cfg)):
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
