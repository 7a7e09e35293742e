"""Reallocation: the word -> cell table that minimises the fixed model's loss (Li et al. 2016,
section 3.3), as a linear assignment problem.

    assign.py     `reallocate(l_r, l_c, table, config)`: methods, never-worse rule, report
    exact.py      dense Jonker-Volgenant (lapx `lapjv`): the optimum up to ~11k words per GiB
    auction.py    sparse candidates + a compiled auction (or lapx `lapmod`): up to ~1M words
    greedy.py     the CNTK example's row-then-column greedy, for comparison
    synthetic.py  synthetic cost matrices with a known structure, for tests and benchmarks
"""

from lightrnn.allocate.assign import (
    METHODS,
    AllocateConfig,
    AllocationReport,
    objective,
    reallocate,
)

__all__ = ["METHODS", "AllocateConfig", "AllocationReport", "objective", "reallocate"]
