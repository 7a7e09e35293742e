"""The reallocation methods by name: each a solver with its own options class.

Adding a method is one module and one call:

    @dataclass(frozen=True)
    class MyOptions:
        rounds: int = 3

    def solve_mine(l_r, l_c, current, options: MyOptions, chunk) -> Solution: ...

    register_allocator("mine", solve_mine, MyOptions)

after which `reallocate(..., method="mine")`, `AllocateConfig("mine", options={"rounds": 5})`
and the pipeline's `allocate.method=mine allocate.options.rounds=5` all reach it. The solver
sees the costs (already lowered by the keep margin), the current table and its options, and
returns every word's new cell; `reallocate` checks the table, keeps the current one if the new
one is worse, and writes the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightrnn.errors import ConfigError
from lightrnn.table import Table


@dataclass
class Solution:
    """What a method's solver returns."""

    cells: np.ndarray  # [V] the new cell of each word (one word per cell)
    solver: str  # what solved it, for the report: "lapjv", "auction", ...
    lower_bound: float | None = None  # proven, on the costs the solver saw
    candidates: int | None = None  # cells considered per word, when not all of them
    details: dict = field(default_factory=dict)  # solver facts: bids, phases, eps, ...
    optimal: bool = False  # the table is optimal on the costs the solver saw
    method: str = ""  # the method that ran, when another delegated to it ("auto"); "" = itself


Solve = Callable[[np.ndarray, np.ndarray, Table, Any, int], Solution]


@dataclass(frozen=True)
class NoOptions:
    """For a method that takes no options."""


@dataclass(frozen=True)
class Allocator:
    name: str
    solve: Solve  # (l_r [V, R], l_c [V, C], current table, options, chunk) -> Solution
    options: type  # a frozen dataclass: the method's settings, with defaults

    def configure(self, values: Mapping[str, Any]) -> Any:
        """The method's options from {name: value}; unknown names fail with the valid ones."""
        valid = [f.name for f in dataclasses.fields(self.options) if f.init]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            takes = f"its options: {', '.join(valid)}" if valid else "it takes none"
            raise ConfigError(
                f"allocate.options: method {self.name!r} has no option {unknown[0]!r}; {takes}"
            )
        return self.options(**values)


_ALLOCATORS: dict[str, Allocator] = {}


def register_allocator(name: str, solve: Solve, options: type = NoOptions) -> None:
    """Make `name` a reallocation method; `options` is its frozen options dataclass."""
    if not dataclasses.is_dataclass(options):
        raise ConfigError(f"register_allocator({name!r}): options must be a dataclass type")
    known = _ALLOCATORS.get(name)
    if known is not None and (known.solve, known.options) != (solve, options):
        raise ConfigError(f"allocation method {name!r} is already registered: choose another name")
    _ALLOCATORS[name] = Allocator(name, solve, options)


def allocator(name: str) -> Allocator:
    if name not in _ALLOCATORS:
        raise ConfigError(f"method={name!r}: choose one of {', '.join(methods())}")
    return _ALLOCATORS[name]


def methods() -> tuple[str, ...]:
    """The registered method names, in registration order."""
    return tuple(_ALLOCATORS)
