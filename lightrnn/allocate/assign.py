"""Word reallocation: the table that minimises the model's loss with the model fixed.

Li et al. 2016, section 3.3: with l_r[w, i] (l_c[w, j]) the summed -log P of row i (column j) over
the occurrences of word w, putting w in cell (i, j) costs l_r[w, i] + l_c[w, j]; the best table
is a minimum-cost one-to-one map words -> cells, a linear assignment problem.

Methods are registered by name (`registry.py`), each a solver with its own options:
- "auto" (the default): exact up to `exact_words` words (2,000), else sparse (`auto.py`).
- "exact": dense Jonker-Volgenant (`lap.lapjv`) over the V x R*C cost matrix (float64): the
  optimum, while that matrix fits (`max_bytes`, ~11k words at the 1 GiB default; `exact.py`).
- "sparse", "auction", "lapmod": each word's cheapest cells plus its current one, solved by
  auction (numba) or lapmod; "sparse" picks the auction when numba is there (`sparse.py`).
  Scales to the paper's 793,471 words (bench/reallocate.py).
- "greedy": the row-then-column greedy of the CNTK example (`greedy.py`), to compare.
Whatever the method, the new table is never worse than the current one: if a solver ever
returned a worse table (numerical trouble), the current table is kept and the report says so.

Ties. When words are interchangeable, many tables are optimal and a solver moves words between
equivalent cells every round: the table never looks stable although nothing is gained. With
`keep_margin`, a word stays unless moving gains more than that fraction of its current cost:
half of the margin rewards keeping its row, half keeping its column (so the same costs, with a
bonus on each word's current row and column, go to whichever solver runs).

Unseen words. A word the costs never saw (all zero: a cost sample that missed it) could go
anywhere at no cost, and a solver would scatter such words, inflating the moved count that
decides stability. So the solver places the seen words alone, over every cell, and each unseen
word then keeps its cell unless a seen word took it; those that lost theirs take the free cells
in order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lightrnn.allocate import auto, exact, greedy, sparse  # noqa: F401  (they register)
from lightrnn.allocate.registry import allocator
from lightrnn.errors import ConfigError, DataError
from lightrnn.progress import ProgressFn
from lightrnn.table import Table
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class AllocateConfig:
    """How to reallocate: a method and its own options; the defaults are what the benchmark
    recommends."""

    method: str = "auto"  # a registered method: auto, exact, sparse, auction, lapmod, greedy
    options: dict[str, Any] = field(default_factory=dict, hash=False)  # the method's; {} = defaults
    keep_margin: float = 0.0  # a word moves only to gain more than this share of its cost
    chunk: int = 8192  # words processed at a time when building costs (bounds temporaries)

    def __post_init__(self) -> None:
        if dataclasses.is_dataclass(self.options) and not isinstance(self.options, type):
            object.__setattr__(self, "options", asdict(self.options))  # an options object
        check_fields(self, "allocate.")
        if not isinstance(self.options, dict):
            raise ConfigError(
                f"allocate.options={self.options!r}: must be a mapping of the method's options"
            )
        if not 0 <= self.keep_margin < 1:
            raise ConfigError(f"keep_margin={self.keep_margin}: must be in [0, 1)")
        if self.chunk < 1:
            raise ConfigError(f"chunk={self.chunk}: must be at least 1")
        self.method_options()  # the method exists and takes these options

    def method_options(self) -> Any:
        """The method's options object (its dataclass, from `options`)."""
        return allocator(self.method).configure(self.options)


@dataclass(frozen=True)
class AllocationReport:
    """What a reallocation did; `to_dict()` is JSON-ready."""

    method: str  # the method that ran ("auto" names the one it chose): "exact", "sparse", ...
    solver: str  # what solved it: "lapjv", "auction", "lapmod", "greedy", ...
    vocab_size: int
    n_rows: int
    n_cols: int
    objective_before: float  # sum over words of l_r + l_c at their cells, current table
    objective_after: float  # the same for the returned table
    words_moved: int
    moved_fraction: float
    seconds: float
    candidates: int | None = None  # sparse: cells per word in the list (plus the current one)
    lower_bound: float | None = None  # a proven lower bound on the optimum, when known
    gap_bound: float | None = None  # (objective_after - lower_bound) / |lower_bound|
    kept_current: bool = False  # True if the solver's table was worse and was discarded
    details: dict | None = None  # solver facts: bids, phases, eps, ...

    def to_dict(self) -> dict:
        return asdict(self)


def objective(l_r: np.ndarray, l_c: np.ndarray, table: Table) -> float:
    """sum_w l_r[w, r(w)] + l_c[w, c(w)] in float64."""
    _check_costs(l_r, l_c, table)
    words = np.arange(table.vocab_size)
    rows = l_r[words, table.rows].astype(np.float64)
    cols = l_c[words, table.cols].astype(np.float64)
    return float(rows.sum() + cols.sum())


def reallocate(
    l_r: np.ndarray,
    l_c: np.ndarray,
    current: Table,
    method: str | None = None,
    config: AllocateConfig | None = None,
    progress: ProgressFn | None = None,
) -> tuple[Table, AllocationReport]:
    """The new table and a report. l_r [V, R], l_c [V, C] float costs (any sign), `current` the
    table they were measured on. `method` runs that method instead of `config.method`, with its
    default options (keep_margin and chunk from `config`). `progress(stage, 3)`
    after checking the costs, solving and scoring the new table."""
    config = config or AllocateConfig()
    if method is not None and method != config.method:
        config = dataclasses.replace(config, method=method, options={})
    _check_costs(l_r, l_c, current)
    _check_finite(l_r, "l_r", config.chunk)
    _check_finite(l_c, "l_c", config.chunk)
    unseen = ~(np.any(l_r, axis=1) | np.any(l_c, axis=1))  # all-zero costs: never in the sample
    if unseen.any() and not unseen.all():
        return _around_unseen(l_r, l_c, current, unseen, config, progress)
    tell = progress or (lambda _done, _total: None)
    start = time.perf_counter()
    before = objective(l_r, l_c, current)
    chosen = allocator(config.method)
    tell(1, 3)
    with _keep_bonus(l_r, l_c, current, config.keep_margin) as (r, c, bonus):
        solved = chosen.solve(r, c, current, config.method_options(), config.chunk)
    tell(2, 3)
    new = Table.from_cells(solved.cells, current.n_rows, current.n_cols)
    after = objective(l_r, l_c, new)
    kept = after > before
    if kept:
        new, after = current, before
    # The solver saw costs lowered by the bonus, never raised: its optimum, or its proven bound,
    # is a lower bound of the true optimum too.
    lower_bound = solved.lower_bound
    if solved.optimal and not kept:
        same_row, same_col = new.rows == current.rows, new.cols == current.cols
        lower_bound = after - float(bonus[same_row].sum() + bonus[same_col].sum())
    gap = None
    if lower_bound is not None:
        lower_bound = min(lower_bound, after)
        gap = (after - lower_bound) / max(abs(lower_bound), 1e-300)
    moved = int(np.count_nonzero(new.cells != current.cells))
    tell(3, 3)
    return new, AllocationReport(
        method=solved.method or chosen.name,
        solver=solved.solver,
        vocab_size=current.vocab_size,
        n_rows=current.n_rows,
        n_cols=current.n_cols,
        objective_before=before,
        objective_after=after,
        words_moved=moved,
        moved_fraction=moved / current.vocab_size,
        seconds=time.perf_counter() - start,
        candidates=solved.candidates,
        lower_bound=lower_bound,
        gap_bound=gap,
        kept_current=kept,
        details=solved.details or None,
    )


def _around_unseen(
    l_r: np.ndarray,
    l_c: np.ndarray,
    current: Table,
    unseen: np.ndarray,
    config: AllocateConfig,
    progress: ProgressFn | None,
) -> tuple[Table, AllocationReport]:
    """Solve for the seen words over every cell; then each unseen word keeps its cell unless a
    seen word took it, and the others fill the free cells in ascending order."""
    start = time.perf_counter()
    seen = ~unseen
    part = Table(current.rows[seen], current.cols[seen], current.n_rows, current.n_cols)
    solved, report = reallocate(l_r[seen], l_c[seen], part, config=config, progress=progress)
    cells = current.cells.copy()
    cells[seen] = solved.cells
    taken = np.zeros(current.n_cells, dtype=bool)
    taken[solved.cells] = True
    lost = np.flatnonzero(unseen & taken[current.cells])
    taken[cells[unseen & ~taken[current.cells]]] = True
    cells[lost] = np.flatnonzero(~taken)[: lost.size]
    new = Table.from_cells(cells, current.n_rows, current.n_cols)
    moved = int(np.count_nonzero(new.cells != current.cells))
    return new, dataclasses.replace(
        report,
        vocab_size=current.vocab_size,
        words_moved=moved,
        moved_fraction=moved / current.vocab_size,
        seconds=time.perf_counter() - start,
    )


@contextlib.contextmanager
def _keep_bonus(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, margin: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(l_r, l_c, bonus [V]): the costs with each word's current row and column made cheaper
    by its bonus, half of `margin` times its current cost; in place (O(V) saved, restored
    after), or on copies when the arrays are read-only (or integers, which would drop it)."""
    words = np.arange(current.vocab_size)
    if margin == 0:
        yield l_r, l_c, np.zeros(current.vocab_size)
        return
    rows, cols = current.rows, current.cols
    bonus = 0.5 * margin * np.abs(l_r[words, rows].astype(np.float64) + l_c[words, cols])
    if not (l_r.flags.writeable and l_c.flags.writeable):
        l_r, l_c = l_r.copy(), l_c.copy()
    if not (np.issubdtype(l_r.dtype, np.floating) and np.issubdtype(l_c.dtype, np.floating)):
        l_r, l_c = l_r.astype(np.float64), l_c.astype(np.float64)  # integers would drop it
    saved_r, saved_c = l_r[words, rows].copy(), l_c[words, cols].copy()
    try:
        l_r[words, rows] = saved_r - bonus.astype(l_r.dtype)
        l_c[words, cols] = saved_c - bonus.astype(l_c.dtype)
        yield l_r, l_c, bonus
    finally:
        l_r[words, rows] = saved_r
        l_c[words, cols] = saved_c


def _check_costs(l_r: np.ndarray, l_c: np.ndarray, table: Table) -> None:
    for name, arr, width, what in (
        ("l_r", l_r, table.n_rows, "rows"),
        ("l_c", l_c, table.n_cols, "columns"),
    ):
        if not isinstance(arr, np.ndarray) or arr.ndim != 2:
            raise DataError(
                f"{name} must be a 2-D numpy array [words, {what}], got "
                f"{getattr(arr, 'shape', type(arr).__name__)}"
            )
        if arr.shape != (table.vocab_size, width):
            raise DataError(
                f"{name} has shape {arr.shape} but the table holds {table.vocab_size} words in "
                f"{table.n_rows} x {table.n_cols}: expected ({table.vocab_size}, {width}); "
                "pass costs accumulated on this table"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DataError(f"{name} must hold real numbers, got dtype {arr.dtype}")


def _check_finite(arr: np.ndarray, name: str, chunk: int) -> None:
    """NaN or inf costs have no optimum: name the first bad word (chunked: no [V, R] mask)."""
    if np.issubdtype(arr.dtype, np.integer):
        return
    for start in range(0, arr.shape[0], chunk):
        block = arr[start : start + chunk]
        if not np.isfinite(block).all():
            bad = np.argwhere(~np.isfinite(block))[0]
            w, k = int(bad[0]) + start, int(bad[1])
            raise DataError(
                f"{name}[{w}, {k}] = {arr[w, k]}: costs must be finite; check the accumulation "
                "(a log of zero probability?) before reallocating"
            )
