"""A new reallocation method is one module and one registration: this file is that module. Once
registered, the library's `reallocate` and the pipeline's settings both reach it by name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from flows.profiles import parse_overrides, resolve
from lightrnn.allocate import (
    AllocateConfig,
    Solution,
    methods,
    objective,
    reallocate,
    register_allocator,
)
from lightrnn.allocate.synthetic import synthetic_costs
from lightrnn.errors import ConfigError
from lightrnn.table import Table


@dataclass(frozen=True)
class ShiftOptions:
    shift: int = 0  # move every word this many cells along (0: keep the table)


def shift_cells(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: ShiftOptions, chunk: int
) -> Solution:
    """Every word `shift` cells along, modulo the cells: a valid (rarely a good) table."""
    return Solution((current.cells + options.shift) % current.n_cells, "shift")


register_allocator("shift", shift_cells, ShiftOptions)


def test_a_registered_method_runs_through_reallocate_with_its_options():
    assert "shift" in methods()
    l_r, l_c = synthetic_costs(90, seed=0)
    current = Table.random(90, seed=1)
    same, report = reallocate(l_r, l_c, current, method="shift")
    assert same == current
    assert (report.method, report.solver, report.words_moved) == ("shift", "shift", 0)
    assert report.objective_after == report.objective_before == objective(l_r, l_c, current)

    shifted = Table.from_cells((current.cells + 1) % current.n_cells, 10, 9)
    new, report = reallocate(l_r, l_c, current, config=AllocateConfig("shift", {"shift": 1}))
    if objective(l_r, l_c, shifted) <= objective(l_r, l_c, current):
        assert new == shifted and report.words_moved == 90
    else:  # the never-worse rule applies to every method
        assert new == current and report.kept_current
    assert report.method == "shift"


def test_a_registered_method_is_a_pipeline_setting():
    settings = resolve(
        "tiny", parse_overrides(["allocate.method=shift", "allocate.options.shift=3"])
    )
    assert settings.allocate == AllocateConfig("shift", {"shift": 3})
    assert settings.allocate.method_options() == ShiftOptions(shift=3)
    assert settings.results()["allocate"]["options"] == {"shift": 3}
    with pytest.raises(ConfigError, match=r"'shift' has no option 'eps'; its options: shift"):
        resolve("tiny", parse_overrides(["allocate.method=shift", "allocate.options.eps=1"]))


def test_a_name_is_registered_once():
    register_allocator("shift", shift_cells, ShiftOptions)  # the same again: nothing changes
    with pytest.raises(ConfigError, match="'shift' is already registered"):
        register_allocator("shift", lambda *args: None, ShiftOptions)
