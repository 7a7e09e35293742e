"""The exact reallocation: dense Jonker-Volgenant (`lap.lapjv`) over all V x R*C cell costs.

The optimum, for as long as the dense float64 cost matrix fits in memory (about 11k words per
GiB); past that, the sparse methods (`sparse.py`) solve a sparse version of the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightrnn.allocate.registry import Solution, register_allocator
from lightrnn.errors import ConfigError
from lightrnn.table import Table
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class ExactOptions:
    max_bytes: int = 1 << 30  # the largest dense float64 cost matrix allowed

    def __post_init__(self) -> None:
        check_fields(self, "allocate.options.")
        if self.max_bytes < 0:
            raise ConfigError(f"max_bytes={self.max_bytes}: must not be negative")


def solve_exact(l_r: np.ndarray, l_c: np.ndarray, current: Table, chunk: int) -> np.ndarray:
    """Exact cells [V] via lap.lapjv on the dense [V, R*C] float64 costs (zero-padded square)."""
    import lap

    rows_of = np.repeat(np.arange(current.n_rows), current.n_cols)  # [R*C]
    cols_of = np.tile(np.arange(current.n_cols), current.n_rows)
    cost = np.empty((current.vocab_size, current.n_cells), dtype=np.float64)
    for start in range(0, current.vocab_size, chunk):
        block = slice(start, start + chunk)
        np.add(
            l_r[block].astype(np.float64)[:, rows_of],
            l_c[block].astype(np.float64)[:, cols_of],
            out=cost[block],
        )
        # a per-word constant changes no argmin (each word is placed once) and keeps lapjv's
        # float64 sums small
        cost[block] -= cost[block].min(axis=1, keepdims=True)
    x, _ = lap.lapjv(cost, extend_cost=True, return_cost=False)
    return np.asarray(x, dtype=np.int64)


def exact(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: ExactOptions, chunk: int
) -> Solution:
    dense_bytes = current.vocab_size * current.n_cells * 8
    if dense_bytes > options.max_bytes:
        raise ConfigError(
            f"method='exact' needs a {dense_bytes / 2**30:.1f} GiB dense cost matrix for "
            f"{current.vocab_size} words, over its option max_bytes={options.max_bytes}: "
            "use method='sparse' (or 'auto'), or raise max_bytes"
        )
    return Solution(solve_exact(l_r, l_c, current, chunk), "lapjv", optimal=True)


register_allocator("exact", exact, ExactOptions)
