"""The bootstrap's decisions, as pure functions: when the table is stable, and which round wins.

After round k has trained on table(k) and, unless it is the last, reallocation has proposed
table(k+1), the loop stops when (Li et al. 2016, section 3.3; docs/design.md#stopping):
  - the table is stable: few words moved (table(k+1) differs from table(k) in fewer than
    moved_threshold of the words), or the reallocation gained less than min_gain of the
    objective (when words are interchangeable, ties keep words moving with nothing gained:
    what matters is the gain; see also AllocateConfig.keep_margin), or
  - validation perplexity did not improve on the best earlier round, or improved on it by less
    than min_valid_gain (the round was worth too little for another one: on a large vocabulary
    words keep moving every round, so "few words moved" may never hold), or
  - k reached max_rounds.
The final model is the round with the best validation perplexity, with the table it trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lightrnn.errors import ConfigError
from lightrnn.table import Table, table_shape


@dataclass(frozen=True)
class RoundStats:
    round: int  # 1-based
    valid_ppl: float
    moved_fraction: float | None  # None when no reallocation followed this round
    objective_gain: float | None = None  # (before - after) / |before| of that reallocation


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: str  # "stable", "no_improvement", "small_gain", "max_rounds" or "continue"
    best_round: int


def check_convergence(
    rounds: Sequence[RoundStats],
    max_rounds: int,
    moved_threshold: float = 0.01,
    min_gain: float = 0.0,
    min_valid_gain: float = 0.0,
) -> Decision:
    """Whether to train another round, given the rounds so far (oldest first)."""
    if max_rounds < 1:
        raise ConfigError(f"max_rounds={max_rounds}: must be at least 1")
    fractions = (moved_threshold, min_gain, min_valid_gain)
    if not all(0.0 <= f <= 1.0 for f in fractions):
        raise ConfigError(
            f"moved_threshold={moved_threshold}, min_gain={min_gain} and min_valid_gain="
            f"{min_valid_gain}: must be fractions in [0, 1]"
        )
    if not rounds:
        return Decision(False, "continue", 0)
    best = min(
        rounds, key=lambda r: (r.valid_ppl if math.isfinite(r.valid_ppl) else math.inf, r.round)
    )
    last = rounds[-1]
    if len(rounds) > 1:
        before = min(r.valid_ppl for r in rounds[:-1])
        if last.valid_ppl >= before:
            return Decision(True, "no_improvement", best.round)
        if 1 - last.valid_ppl / before < min_valid_gain:
            return Decision(True, "small_gain", best.round)
    if last.round >= max_rounds:
        return Decision(True, "max_rounds", best.round)
    if last.moved_fraction is not None and (
        last.moved_fraction < moved_threshold
        or (last.objective_gain is not None and last.objective_gain < min_gain)
    ):
        return Decision(True, "stable", best.round)
    return Decision(False, "continue", best.round)


def carry_over_table(
    old: Table, old_tokens: Sequence[str], new_tokens: Sequence[str], seed: int = 0
) -> Table:
    """A table for a new vocabulary that keeps every surviving word in its old cell.

    Words new to the vocabulary, and words whose old cell lies outside the new table's shape,
    fill the remaining cells at random (seeded). Used to warm-start a retrain on a newer corpus.
    """
    if len(old_tokens) != old.vocab_size:
        raise ConfigError(
            f"the old table holds {old.vocab_size} words but {len(old_tokens)} tokens were given: "
            "pass the vocabulary the table was built for"
        )
    n_rows, n_cols = table_shape(len(new_tokens))
    old_cell = {
        tok: (int(r), int(c)) for tok, r, c in zip(old_tokens, old.rows, old.cols, strict=True)
    }
    cells = np.full(len(new_tokens), -1, dtype=np.int64)
    taken = np.zeros(n_rows * n_cols, dtype=bool)
    for w, tok in enumerate(new_tokens):
        rc = old_cell.get(tok)
        if rc is not None and rc[0] < n_rows and rc[1] < n_cols:
            cell = rc[0] * n_cols + rc[1]
            if not taken[cell]:
                cells[w], taken[cell] = cell, True
    free = np.flatnonzero(~taken)
    rng = np.random.default_rng(seed)
    missing = np.flatnonzero(cells < 0)
    cells[missing] = rng.permutation(free)[: missing.size]
    return Table.from_cells(cells, n_rows, n_cols)
