"""The shortlist sized by token coverage: the smallest K, checked against a brute-force scan."""

import numpy as np
import pytest

from lightrnn.errors import ConfigError
from lightrnn.shortlist import coverage_of, shortlist_covering


def brute_force(counts: list[int], coverage: float) -> int:
    total = sum(counts)
    return next(k for k in range(1, len(counts) + 1) if sum(counts[:k]) >= coverage * total)


def test_the_smallest_shortlist_that_covers_the_share() -> None:
    counts = [50, 20, 10, 10, 5, 3, 2]  # 100 tokens
    assert shortlist_covering(counts, 0.5) == 1
    assert shortlist_covering(counts, 0.51) == 2
    assert shortlist_covering(counts, 0.7) == 2
    assert shortlist_covering(counts, 0.8) == 3
    assert shortlist_covering(counts, 0.9) == 4
    assert coverage_of(counts, 3) == 0.8


def test_agrees_with_a_brute_force_scan_on_zipfian_counts() -> None:
    rng = np.random.default_rng(0)
    counts = sorted((rng.zipf(1.3, size=500) % 10_000).tolist(), reverse=True)
    for coverage in (0.05, 0.3, 0.5, 0.77, 0.8, 0.9):
        k = shortlist_covering(counts, coverage)
        assert k == brute_force(counts, coverage)
        assert coverage_of(counts, k) >= coverage > coverage_of(counts, k - 1)


def test_a_coverage_only_the_whole_vocabulary_reaches_says_the_largest_allowed() -> None:
    with pytest.raises(ConfigError, match=r"at most 0\.9700"):
        shortlist_covering([90, 5, 2, 2, 1], 0.99)


@pytest.mark.parametrize("coverage", [0.0, 1.0, -0.2, 80])
def test_a_coverage_outside_zero_one_is_refused(coverage: float) -> None:
    with pytest.raises(ConfigError, match="must be in \\(0, 1\\)"):
        shortlist_covering([5, 4, 3, 2], coverage)


def test_counts_that_cannot_hold_a_table_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least 3 words"):
        shortlist_covering([5, 4], 0.5)
    with pytest.raises(ConfigError, match="all zero"):
        shortlist_covering([0, 0, 0], 0.5)
