"""Reallocation: the word -> cell table that minimises the fixed model's loss (Li et al. 2016,
section 3.3), as a linear assignment problem.

    assign.py     `reallocate(l_r, l_c, table, config)`: never-worse rule, keep margin, report
    registry.py   methods by name (`register_allocator`): a solver and its options class
    auto.py       the default: exact on small vocabularies, sparse beyond
    exact.py      dense Jonker-Volgenant (lapx `lapjv`): the optimum up to ~11k words per GiB
    sparse.py     sparse candidates + a compiled auction (or lapx `lapmod`): up to ~1M words
    auction.py    the candidates and the two solvers behind sparse.py
    greedy.py     the CNTK example's row-then-column greedy, for comparison
    synthetic.py  synthetic cost matrices with a known structure, for tests and benchmarks
"""

from lightrnn.allocate.assign import AllocateConfig, AllocationReport, objective, reallocate
from lightrnn.allocate.registry import NoOptions, Solution, methods, register_allocator

__all__ = [
    "AllocateConfig",
    "AllocationReport",
    "NoOptions",
    "Solution",
    "methods",
    "objective",
    "reallocate",
    "register_allocator",
]
