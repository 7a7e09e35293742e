"""The hybrid head's shortlist sized by token coverage rather than fixed.

A shortlist of K words (ids 0..K-1: the specials, then words by count descending) predicts
those words with an ordinary softmax; the table holds the rest. A fixed K covers very different
shares of the tokens on different corpora (2,000 words are 87% of PTB's training tokens, 77% of
WikiText-2's); `shortlist_covering` picks the smallest K whose words carry a given share instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lightrnn.errors import ConfigError


def coverage_of(counts: Sequence[int] | np.ndarray, shortlist: int) -> float:
    """The share of the tokens that ids 0..shortlist-1 carry (`counts` in id order)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total <= 0:
        raise ConfigError("token counts are all zero: count the training split first")
    return float(counts[:shortlist].sum()) / total


def shortlist_covering(counts: Sequence[int] | np.ndarray, coverage: float) -> int:
    """The smallest K whose ids 0..K-1 carry at least `coverage` of the tokens (`counts` in id
    order, as the vocabulary numbers words). The table keeps at least 2 words, so a coverage
    only the whole vocabulary reaches is an error that says the largest one this corpus allows."""
    if not 0.0 < coverage < 1.0:
        raise ConfigError(f"shortlist coverage={coverage}: must be in (0, 1), e.g. 0.8")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or len(counts) < 3 or (counts < 0).any():
        raise ConfigError(
            f"token counts of shape {counts.shape}: need one non-negative count per word, "
            "at least 3 words (a shortlist and a table of 2)"
        )
    total = int(counts.sum())
    if total <= 0:
        raise ConfigError("token counts are all zero: count the training split first")
    covered = np.cumsum(counts)
    k = int(np.searchsorted(covered, coverage * total, side="left")) + 1  # covered[k-1] >= it
    if k > len(counts) - 2:
        largest = float(covered[len(counts) - 3]) / total
        raise ConfigError(
            f"shortlist coverage={coverage}: needs {k} of {len(counts)} words, but the table "
            f"keeps at least 2; use a coverage of at most {largest:.4f}"
        )
    return k
