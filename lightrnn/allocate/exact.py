"""The exact reallocation: dense Jonker-Volgenant (`lap.lapjv`) over all V x R*C cell costs.

The optimum, for as long as the dense float64 cost matrix fits in memory (about 11k words per
GiB); past that, `auction.py` solves a sparse version of the same problem.
"""

from __future__ import annotations

import numpy as np

from lightrnn.table import Table


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
