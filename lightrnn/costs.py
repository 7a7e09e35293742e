"""Reallocation costs: with the model fixed, how well each word would do in every row and column.

    l_r(w, i) = - sum over occurrences t of w of log P_r(i | h^c_{t-1})     [V, R]
    l_c(w, j) = - sum over occurrences t of w of log P_c(j | h^r_t)          [V, C]

(Li et al. 2016, section 3.3; the column softmax unmasked, since reallocation moves the empty
cells.) One pass over a token stream, the softmaxes computed in batches on the model's device.

Memory and precision. At V = 793,471 (R = C = 891) one float32 accumulator pair is 5.6 GB and a
float64 pair 11.3 GB. A frequent word's sum runs over millions of occurrences, where adding a
term of ~5 to a float32 total of ~1e8 loses it whole. So sums are taken in two levels: a float32
*block* accumulator on the device collects at most `block_tokens` positions, then is added into
the *master* accumulator on the host and cleared. The master is float64 when it fits within
`master_bytes` and float32 beyond (each master entry then sums only tokens / block_tokens
partial sums, so its relative error stays near 1e-7 * that count, not 1e-7 * occurrences).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import torch

from lightrnn.data import TokenStream
from lightrnn.distributed import World
from lightrnn.errors import ConfigError, DataError
from lightrnn.evaluate import Prefix, device_windows
from lightrnn.model import LightRNN
from lightrnn.progress import ProgressFn
from lightrnn.recurrent import eval_mode
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class CostConfig:
    batch_size: int = 64  # parallel segments of the stream
    bptt: int = 35  # words per window
    max_tokens: int = 0  # read only the first N ids of the stream; 0 = all
    block_tokens: int = 1 << 20  # positions summed in float32 before each flush to the master
    master_bytes: int = 4 << 30  # float64 master accumulators up to this size, float32 beyond

    def __post_init__(self) -> None:
        check_fields(self, "costs.")
        for name in ("batch_size", "bptt", "block_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.max_tokens < 0:
            raise ConfigError(f"max_tokens={self.max_tokens}: must not be negative")


@dataclass
class Costs:
    """Summed negative log-probabilities of every word in every row and column."""

    rows: np.ndarray  # l_r [V, R]
    cols: np.ndarray  # l_c [V, C]
    counts: np.ndarray  # occurrences of each word [V] int64
    tokens: int
    seconds: float = 0.0

    def to_bytes(self) -> bytes:
        """An .npz (no pickle), for the store when cost matrices are kept."""
        buf = io.BytesIO()
        np.savez(
            buf, rows=self.rows, cols=self.cols, counts=self.counts, tokens=np.array(self.tokens)
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Costs:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls(npz["rows"], npz["cols"], npz["counts"], int(npz["tokens"]))


def accumulate_costs(
    model: LightRNN,
    stream: TokenStream,
    config: CostConfig | None = None,
    progress: ProgressFn | None = None,
    world: World | None = None,
) -> Costs:
    """One pass of the fixed `model` over `stream`, accumulating l_r and l_c for every word.
    In a `world`, each process reads its share of the segments; the sums (float64 where the
    master is) end on rank 0, the others' are partial."""
    cfg = config or CostConfig()
    start = time.perf_counter()
    if cfg.max_tokens:
        stream = Prefix(stream, cfg.max_tokens)
    if len(stream) == 0:
        raise DataError("cannot accumulate costs over an empty token stream: pass training data")
    # With a shortlist (hybrid head) only the V - K table words have costs: word id K + i is
    # row i of the matrices, and positions of shortlist words are skipped.
    K = model.config.shortlist
    V, R, C = model.config.table_words, model.config.n_rows, model.config.n_cols
    device = model.device
    master_dtype = np.float64 if cfg.master_bytes >= V * (R + C) * 8 else np.float32
    master_r = np.zeros((V, R), dtype=master_dtype)
    master_c = np.zeros((V, C), dtype=master_dtype)
    block_r = torch.zeros((V, R), dtype=torch.float32, device=device)
    block_c = torch.zeros((V, C), dtype=torch.float32, device=device)
    counts = torch.zeros(V, dtype=torch.int64, device=device)
    in_block = done = 0

    def flush() -> None:
        master_r.__iadd__(block_r.cpu().numpy())
        master_c.__iadd__(block_c.cpu().numpy())
        block_r.zero_()
        block_c.zero_()

    state = None
    with eval_mode(model):
        windows = device_windows(model, stream, cfg.batch_size, cfg.bptt, "cost stream", world)
        for ids, mask in windows:
            lp_rows, lp_cols, state = model.factor_log_probs(ids, state)  # [B, T, R], [B, T, C]
            flat_mask = mask.flatten() & (ids.flatten() >= K)
            words = ids.flatten()[flat_mask] - K  # [N] table words
            block_r.index_add_(0, words, lp_rows.flatten(0, 1)[flat_mask], alpha=-1.0)
            block_c.index_add_(0, words, lp_cols.flatten(0, 1)[flat_mask], alpha=-1.0)
            counts.index_add_(0, words, torch.ones_like(words))
            in_block += int(flat_mask.sum())
            done += int(mask.sum())
            if in_block >= cfg.block_tokens:
                flush()
                in_block = 0
            if progress:
                progress(done, len(stream))
        flush()
    counts_np = counts.cpu().numpy()
    if world is not None:
        master_r = world.sum_array_to_main(master_r)
        master_c = world.sum_array_to_main(master_c)
        counts_np = world.sum_array_to_main(counts_np)
        done = int(world.sum(torch.tensor([float(done)]))[0])
    return Costs(master_r, master_c, counts_np, done, time.perf_counter() - start)
