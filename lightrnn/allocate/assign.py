"""Word reallocation: the table that minimises the model's loss with the model fixed.

Li et al. 2016, section 3.3: with l_r[w, i] (l_c[w, j]) the summed -log P of row i (column j) over
the occurrences of word w, putting w in cell (i, j) costs l_r[w, i] + l_c[w, j]; the best table
is a minimum-cost one-to-one map words -> cells, a linear assignment problem.

Methods:
- "exact": dense Jonker-Volgenant (`lap.lapjv`) over the V x R*C cost matrix (float64): the
  optimum, while that matrix fits (`exact_max_bytes`, ~11k words at the 1 GiB default).
- "sparse": each word's cheapest cells plus its current one, solved by auction
  (`auction.py`); scales to the paper's 793,471 words (bench/reallocate.py).
- "greedy": the row-then-column greedy of the CNTK example (`greedy.py`), to compare.
- "auto": exact up to `exact_auto_words` words (measured: under half a second at 2,000 words,
  3 s at 4,000 and 27-414 s at 10,000 on real costs), else sparse (about a second at 10,000
  words, within 0.01% of the optimum): chosen by measured time, and the report says which ran.
Whatever the method, the new table is never worse than the current one: if a solver ever
returned a worse table (numerical trouble), the current table is kept and the report says so.

Ties. When words are interchangeable, many tables are optimal and a solver moves words between
equivalent cells every round: the table never looks stable although nothing is gained. With
`keep_margin`, a word stays unless moving gains more than that fraction of its current cost:
half of the margin rewards keeping its row, half keeping its column (so the same costs, with a
bonus on each word's current row and column, go to whichever solver runs).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from lightrnn.allocate import auction
from lightrnn.allocate.exact import solve_exact
from lightrnn.allocate.greedy import greedy_rows_then_cols
from lightrnn.errors import ConfigError, DataError
from lightrnn.progress import ProgressFn
from lightrnn.table import Table
from lightrnn.validation import check_fields

METHODS = ("auto", "exact", "sparse", "greedy")
SOLVERS = ("auto", "auction", "lapmod")
LAPMOD_MAX_WORDS = 200_000  # solver="auto" without numba: past this, lapmod is hopeless


@dataclass(frozen=True)
class AllocateConfig:
    """How to reallocate; the defaults are what the benchmark recommends."""

    method: str = "auto"  # one of METHODS
    candidates: int = 128  # sparse: cells kept per word (its cheapest), plus its current cell
    candidate_rows: int = 16  # sparse: the cells come from the best rows x best columns
    solver: str = "auto"  # sparse: "auction" (needs numba), "lapmod", or auto (auction if numba)
    exact_max_bytes: int = 1 << 30  # exact: the largest dense float64 cost matrix allowed
    exact_auto_words: int = 2_000  # auto: exact up to this many words (fast there), else sparse
    keep_margin: float = 0.0  # a word moves only to gain more than this share of its cost
    tol: float = 1e-9  # auction: error bound as a fraction of the most the current table can gain
    greedy_rows: int = 16  # greedy: options ranked up front per word (the rest on demand)
    chunk: int = 8192  # words processed at a time when building costs (bounds temporaries)

    def __post_init__(self) -> None:
        check_fields(self, "allocate.")
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r}: choose one of {', '.join(METHODS)}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver={self.solver!r}: choose one of {', '.join(SOLVERS)}")
        if self.candidates < 2 or self.candidate_rows < 2:
            raise ConfigError(
                f"candidates={self.candidates}, candidate_rows={self.candidate_rows}: both must "
                "be at least 2 (the defaults 128 and 16 are within 0.01% of the optimum)"
            )
        if self.candidate_rows**2 < self.candidates:
            raise ConfigError(
                f"candidates={self.candidates} > candidate_rows**2={self.candidate_rows**2}: "
                f"raise candidate_rows to at least {int(np.ceil(np.sqrt(self.candidates)))}"
            )
        if not 0 <= self.keep_margin < 1:
            raise ConfigError(f"keep_margin={self.keep_margin}: must be in [0, 1)")
        if not 0 < self.tol < 1 or self.exact_max_bytes < 0 or self.chunk < 1:
            raise ConfigError(
                f"tol={self.tol} must be in (0, 1), exact_max_bytes={self.exact_max_bytes} >= 0 "
                f"and chunk={self.chunk} >= 1"
            )
        if self.solver == "auction" and not auction.HAVE_NUMBA:
            raise ConfigError(
                "solver='auction' needs numba: pip install numba==0.68.1, or use solver='lapmod'"
            )


@dataclass(frozen=True)
class AllocationReport:
    """What a reallocation did; `to_dict()` is JSON-ready."""

    method: str  # the method that ran: "exact", "sparse", "greedy"
    solver: str  # "lapjv", "auction", "lapmod", "greedy"
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
    table they were measured on. `method` overrides `config.method`. `progress(stage, 3)`
    after checking the costs, solving and scoring the new table."""
    config = config or AllocateConfig()
    if method is not None and method != config.method:
        config = AllocateConfig(**{**asdict(config), "method": method})
    _check_costs(l_r, l_c, current)
    _check_finite(l_r, "l_r", config.chunk)
    _check_finite(l_c, "l_c", config.chunk)
    tell = progress or (lambda _done, _total: None)
    start = time.perf_counter()
    before = objective(l_r, l_c, current)
    chosen = config.method
    if chosen == "auto":
        chosen = "exact" if current.vocab_size <= config.exact_auto_words else "sparse"
    tell(1, 3)
    with _keep_bonus(l_r, l_c, current, config.keep_margin) as (r, c, bonus):
        solved = _solve(chosen, r, c, current, config)
    tell(2, 3)
    new = Table.from_cells(solved.cells, current.n_rows, current.n_cols)
    after = objective(l_r, l_c, new)
    kept = after > before
    if kept:
        new, after = current, before
    # The solver saw costs lowered by the bonus, never raised: its optimum, or its proven bound,
    # is a lower bound of the true optimum too.
    lower_bound = solved.lower_bound
    if chosen == "exact" and not kept:
        same_row, same_col = new.rows == current.rows, new.cols == current.cols
        lower_bound = after - float(bonus[same_row].sum() + bonus[same_col].sum())
    gap = None
    if lower_bound is not None:
        lower_bound = min(lower_bound, after)
        gap = (after - lower_bound) / max(abs(lower_bound), 1e-300)
    moved = int(np.count_nonzero(new.cells != current.cells))
    tell(3, 3)
    return new, AllocationReport(
        method=chosen,
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


@dataclass
class _Solved:
    cells: np.ndarray  # [V] the new cell of each word
    solver: str
    lower_bound: float | None = None  # proven, on the costs the solver saw
    candidates: int | None = None
    details: dict = field(default_factory=dict)


def _solve(
    method: str, l_r: np.ndarray, l_c: np.ndarray, current: Table, config: AllocateConfig
) -> _Solved:
    if method == "exact":
        dense_bytes = current.vocab_size * current.n_cells * 8
        if dense_bytes > config.exact_max_bytes:
            raise ConfigError(
                f"method='exact' needs a {dense_bytes / 2**30:.1f} GiB dense cost matrix for "
                f"{current.vocab_size} words, over exact_max_bytes={config.exact_max_bytes}: "
                "use method='sparse' (or 'auto'), or raise exact_max_bytes"
            )
        return _Solved(solve_exact(l_r, l_c, current, config.chunk), "lapjv")
    if method == "greedy":
        return _Solved(greedy_rows_then_cols(l_r, l_c, config.greedy_rows), "greedy")
    built = time.perf_counter()
    cand = auction.build_candidates(
        l_r, l_c, current.cells, config.candidate_rows, config.candidates, config.chunk
    )
    built = time.perf_counter() - built
    solver = config.solver
    if solver == "auto":
        solver = "auction" if auction.HAVE_NUMBA else "lapmod"
        if solver == "lapmod" and current.vocab_size > LAPMOD_MAX_WORDS:
            raise ConfigError(
                f"sparse reallocation of {current.vocab_size} words needs numba for the "
                "auction solver (pip install numba==0.68.1); lapmod would take hours at this "
                "size (pass solver='lapmod' to run it anyway)"
            )
    lower_bound = None
    if solver == "auction":
        cells, details = auction.solve_auction(cand, current.n_cells, config.tol)
        lower_bound = details.pop("lower_bound")
    else:
        cells, details = auction.solve_lapmod(cand, current.n_cells, 4 * current.vocab_size)
    details.pop("solver")
    details["candidates_seconds"] = built
    return _Solved(cells, solver, lower_bound, cand.cells.shape[1] - 1, details)


@contextlib.contextmanager
def _keep_bonus(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, margin: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(l_r, l_c, bonus [V]): the costs with each word's current row and column made cheaper
    by its bonus, half of `margin` times its current cost; in place (O(V) saved, restored
    after), or on copies when the arrays are read-only."""
    words = np.arange(current.vocab_size)
    if margin == 0:
        yield l_r, l_c, np.zeros(current.vocab_size)
        return
    rows, cols = current.rows, current.cols
    bonus = 0.5 * margin * np.abs(l_r[words, rows].astype(np.float64) + l_c[words, cols])
    if not (l_r.flags.writeable and l_c.flags.writeable):
        l_r, l_c = l_r.copy(), l_c.copy()
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
