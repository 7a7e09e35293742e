"""The default method: "exact" up to `exact_words` words, else "sparse", each with its default
options. Chosen by measured time: exact takes under half a second at 2,000 words, 3 s at 4,000
and 27-414 s at 10,000 on real costs; sparse about a second at 10,000 words, within 0.01% of
the optimum. The report names the method that ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightrnn.allocate.registry import Solution, allocator, register_allocator
from lightrnn.errors import ConfigError
from lightrnn.table import Table
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class AutoOptions:
    exact_words: int = 2_000  # exact up to this many words (fast there), else sparse

    def __post_init__(self) -> None:
        check_fields(self, "allocate.options.")
        if self.exact_words < 0:
            raise ConfigError(f"exact_words={self.exact_words}: must not be negative")


def auto(
    l_r: np.ndarray, l_c: np.ndarray, current: Table, options: AutoOptions, chunk: int
) -> Solution:
    chosen = allocator("exact" if current.vocab_size <= options.exact_words else "sparse")
    solution = chosen.solve(l_r, l_c, current, chosen.options(), chunk)
    solution.method = solution.method or chosen.name
    return solution


register_allocator("auto", auto, AutoOptions)
