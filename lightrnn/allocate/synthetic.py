"""Synthetic reallocation costs with LightRNN's structure, for the benchmark and the tests.

A trained LightRNN gives l_r(w, i) = sum over the occurrences of w of -log P_r(i | context), and
likewise l_c(w, j) (Li et al. 2016, section 3.2). We imitate that without a model: words belong to
latent groups, each group prefers a few rows and a few columns, a word's logits are its group's
preference plus noise, and its costs are count(w) * -log softmax(logits), with Zipf counts.
Groups compete for the same few cells, so the assignment is contended as in real tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightrnn.errors import ConfigError
from lightrnn.table import table_shape


@dataclass(frozen=True)
class SyntheticCosts:
    """How to draw the costs; the defaults are what bench/reallocate.py measures."""

    groups_per_row: float = 1.0  # latent groups = round(groups_per_row * R)
    prefs: int = 3  # rows (and columns) each group prefers
    strength: float = 4.0  # logit bonus of a preferred row/column
    noise: float = 1.0  # std of the per-word logit noise
    zipf: float = 1.0  # count(rank) ~ rank ** -zipf
    tokens_per_word: float = 1000.0  # corpus size = tokens_per_word * V (One Billion Word: ~1000)
    chunk: int = 8192  # words generated at a time: bounds the float64 temporaries

    def __post_init__(self) -> None:
        if self.prefs < 1 or self.groups_per_row <= 0 or self.chunk < 1:
            raise ConfigError(
                f"SyntheticCosts(prefs={self.prefs}, groups_per_row={self.groups_per_row}, "
                f"chunk={self.chunk}): all three must be positive"
            )


def zipf_counts(vocab_size: int, zipf: float = 1.0, tokens_per_word: float = 1000.0) -> np.ndarray:
    """[V] float64 word counts, word 0 the most frequent, at least 1, summing to ~tokens."""
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    weights = ranks**-zipf
    return np.maximum(1.0, np.round(tokens_per_word * vocab_size * weights / weights.sum()))


def _neg_log_softmax(logits: np.ndarray) -> np.ndarray:
    """-log softmax over the last axis, stable, in the input's dtype."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return np.log(np.exp(shifted).sum(axis=1, keepdims=True)) - shifted


def synthetic_costs(
    vocab_size: int,
    seed: int = 0,
    spec: SyntheticCosts | None = None,
    dtype: type[np.floating] = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """(l_r [V, R], l_c [V, C]) in `dtype`, reproducible from `seed`; chunked, so the peak memory
    is the two outputs plus a few chunk-sized temporaries (5.7 GB at V = 793,471 in float32)."""
    spec = spec or SyntheticCosts()
    n_rows, n_cols = table_shape(vocab_size)
    rng = np.random.default_rng(seed)
    n_groups = max(1, round(spec.groups_per_row * n_rows))
    group = rng.integers(n_groups, size=vocab_size)
    group_rows = rng.integers(n_rows, size=(n_groups, spec.prefs))
    group_cols = rng.integers(n_cols, size=(n_groups, spec.prefs))
    counts = zipf_counts(vocab_size, spec.zipf, spec.tokens_per_word)
    l_r = np.empty((vocab_size, n_rows), dtype=dtype)
    l_c = np.empty((vocab_size, n_cols), dtype=dtype)
    for start in range(0, vocab_size, spec.chunk):
        stop = min(start + spec.chunk, vocab_size)
        g = group[start:stop]
        for out, prefs, width in ((l_r, group_rows, n_rows), (l_c, group_cols, n_cols)):
            logits = rng.standard_normal((stop - start, width), dtype=np.float32) * spec.noise
            np.add.at(logits, (np.arange(stop - start)[:, None], prefs[g]), spec.strength)
            out[start:stop] = _neg_log_softmax(logits) * counts[start:stop, None]
    return l_r, l_c
