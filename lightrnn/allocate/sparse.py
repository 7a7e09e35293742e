"""The scalable reallocation methods: each word's candidate cells (`auction.build_candidates`),
solved by the compiled auction or by `lap.lapmod`.

    sparse   the auction when numba is installed, else lapmod (while that is not hopeless)
    auction  the auction (needs numba): up to the paper's 793,471 words in minutes
    lapmod   lapmod on the square problem: slow past ~100k words (bench/reallocate.py)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lightrnn.allocate import auction
from lightrnn.allocate.registry import Solution, register_allocator
from lightrnn.errors import ConfigError
from lightrnn.table import Table
from lightrnn.validation import check_fields

LAPMOD_MAX_WORDS = 200_000  # "sparse" without numba: past this, lapmod is hopeless


@dataclass(frozen=True)
class SparseOptions:
    """The defaults are within 0.01% of the optimum (bench/reallocate.py)."""

    candidates: int = 128  # cells kept per word (its cheapest), plus its current cell
    candidate_rows: int = 16  # the cells come from the best rows x best columns
    tol: float = 1e-9  # the auction's error bound, a fraction of the most the table can gain

    def __post_init__(self) -> None:
        check_fields(self, "allocate.options.")
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
        if not 0 < self.tol < 1:
            raise ConfigError(f"tol={self.tol}: must be in (0, 1)")


@dataclass(frozen=True)
class AuctionOptions(SparseOptions):
    def __post_init__(self) -> None:
        super().__post_init__()
        if not auction.HAVE_NUMBA:
            raise ConfigError(
                "method='auction' needs numba: pip install numba==0.68.1, or use method='lapmod'"
            )


def solve_candidates(
    l_r: np.ndarray,
    l_c: np.ndarray,
    current: Table,
    options: SparseOptions,
    chunk: int,
    solver: str,
) -> Solution:
    """Build the candidates, then solve them with "auction" or "lapmod"."""
    built = time.perf_counter()
    cand = auction.build_candidates(
        l_r, l_c, current.cells, options.candidate_rows, options.candidates, chunk
    )
    built = time.perf_counter() - built
    lower_bound = None
    if solver == "auction":
        cells, details = auction.solve_auction(cand, current.n_cells, options.tol)
        lower_bound = details.pop("lower_bound")
    else:
        cells, details = auction.solve_lapmod(cand, current.n_cells, 4 * current.vocab_size)
    details.pop("solver")
    details["candidates_seconds"] = built
    return Solution(cells, solver, lower_bound, cand.cells.shape[1] - 1, details)


def sparse(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: SparseOptions, chunk: int
) -> Solution:
    solver = "auction" if auction.HAVE_NUMBA else "lapmod"
    if solver == "lapmod" and current.vocab_size > LAPMOD_MAX_WORDS:
        raise ConfigError(
            f"sparse reallocation of {current.vocab_size} words needs numba for the "
            "auction solver (pip install numba==0.68.1); lapmod would take hours at this "
            "size (use method='lapmod' to run it anyway)"
        )
    return solve_candidates(l_r, l_c, current, options, chunk, solver)


def auction_method(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: AuctionOptions, chunk: int
) -> Solution:
    return solve_candidates(l_r, l_c, current, options, chunk, "auction")


def lapmod(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: SparseOptions, chunk: int
) -> Solution:
    return solve_candidates(l_r, l_c, current, options, chunk, "lapmod")


register_allocator("sparse", sparse, SparseOptions)
register_allocator("auction", auction_method, AuctionOptions)
register_allocator("lapmod", lapmod, SparseOptions)
