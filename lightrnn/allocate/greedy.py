"""The greedy reallocation of Microsoft's CNTK LightRNN example, for comparison only.

Row then column: every word bids for its cheapest row with room left (a row holds C words),
then, row by row, for its cheapest free column. Bids are served in order of the word's "stake":
the mean cost of the options it has not tried yet, so a word that would lose much by being pushed
further goes first (CNTK's pyreallocate.cpp). Not an exact matching: bench/reallocate.py shows
how far it stays from the optimum.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from lightrnn.allocate.registry import Solution, register_allocator
from lightrnn.errors import ConfigError
from lightrnn.table import Table
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class GreedyOptions:
    rows: int = 16  # options (rows, columns) ranked up front per word; the rest on demand

    def __post_init__(self) -> None:
        check_fields(self, "allocate.options.")
        if self.rows < 1:
            raise ConfigError(f"rows={self.rows}: must be at least 1")


class _Ranked:
    """One word's options (rows or columns) from cheapest up, sorted lazily: the best `k` at once,
    the full order only for the few words that exhaust them."""

    def __init__(self, costs: np.ndarray, k: int, chunk: int = 8192) -> None:
        self.costs = costs  # [V, width], any float dtype
        self.k = min(k, costs.shape[1])
        self.width = costs.shape[1]
        vocab_size = costs.shape[0]
        self.top = np.empty((vocab_size, self.k), dtype=np.int64)  # [V, k] cheapest first
        self.top_val = np.empty((vocab_size, self.k), dtype=np.float64)
        for start in range(0, vocab_size, chunk):  # argpartition's int64 output is chunk-sized
            block = costs[start : start + chunk]
            part = np.argpartition(block, self.k - 1, axis=1)[:, : self.k]
            vals = np.take_along_axis(block, part, 1)
            order = np.argsort(vals, axis=1, kind="stable")
            self.top[start : start + chunk] = np.take_along_axis(part, order, 1)
            self.top_val[start : start + chunk] = np.take_along_axis(vals, order, 1)
        self.total = costs.sum(axis=1, dtype=np.float64)
        self.prefix = np.cumsum(self.top_val, axis=1)
        self.full: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def option(self, w: int, pos: int) -> tuple[int, float]:
        """The word's pos-th cheapest option and its stake: the mean cost of the options after it
        (0 for the last one)."""
        if pos < self.k:
            idx, done = int(self.top[w, pos]), float(self.prefix[w, pos])
        else:
            if w not in self.full:
                order = np.argsort(self.costs[w], kind="stable")
                self.full[w] = (order, np.cumsum(self.costs[w][order], dtype=np.float64))
            order, prefix = self.full[w]
            idx, done = int(order[pos]), float(prefix[pos])
        left = self.width - pos - 1
        return idx, (float(self.total[w]) - done) / left if left else 0.0


def greedy_rows_then_cols(l_r: np.ndarray, l_c: np.ndarray, k: int = 16) -> np.ndarray:
    """Cells [V] int64 (row * C + col) of the greedy table; l_r [V, R], l_c [V, C]."""
    vocab_size, n_rows = l_r.shape
    n_cols = l_c.shape[1]
    ranked_r = _Ranked(l_r, k)
    pos_r = np.zeros(vocab_size, dtype=np.int64)
    heap = []
    for w in range(vocab_size):
        row, stake = ranked_r.option(w, 0)
        heap.append((-stake, w, row))
    heapq.heapify(heap)
    members: list[list[int]] = [[] for _ in range(n_rows)]
    while heap:
        _, w, row = heapq.heappop(heap)
        if len(members[row]) < n_cols:
            members[row].append(w)
            continue
        pos_r[w] += 1
        row, stake = ranked_r.option(w, int(pos_r[w]))
        heapq.heappush(heap, (-stake, w, row))
    cells = np.empty(vocab_size, dtype=np.int64)
    ranked_c = _Ranked(l_c, k)
    for row, words in enumerate(members):
        taken = np.zeros(n_cols, dtype=bool)
        pos = dict.fromkeys(words, 0)
        heap = []
        for w in words:
            col, stake = ranked_c.option(w, 0)
            heap.append((-stake, w, col))
        heapq.heapify(heap)
        while heap:
            _, w, col = heapq.heappop(heap)
            if not taken[col]:
                taken[col] = True
                cells[w] = row * n_cols + col
                continue
            pos[w] += 1
            col, stake = ranked_c.option(w, pos[w])
            heapq.heappush(heap, (-stake, w, col))
    return cells


def greedy(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: GreedyOptions, chunk: int
) -> Solution:
    return Solution(greedy_rows_then_cols(l_r, l_c, options.rows), "greedy")


register_allocator("greedy", greedy, GreedyOptions)
