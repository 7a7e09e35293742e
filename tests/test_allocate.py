"""Reallocation: every method returns a valid table, never worse than the current one, and the
exact ones match an independent solver (scipy's linear_sum_assignment) on the dense problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from lightrnn.allocate import AllocateConfig, AllocationReport, objective, reallocate
from lightrnn.allocate.auction import HAVE_NUMBA
from lightrnn.allocate.synthetic import SyntheticCosts, synthetic_costs
from lightrnn.errors import ConfigError, DataError
from lightrnn.table import Table, table_shape

SOLVERS = [
    "lapmod",
    pytest.param("auction", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba")),
]


def dense_optimum(l_r: np.ndarray, l_c: np.ndarray) -> float:
    """The optimum by scipy over the full V x R*C matrix (words x cells)."""
    n_rows, n_cols = l_r.shape[1], l_c.shape[1]
    cost = (l_r.astype(np.float64)[:, :, None] + l_c.astype(np.float64)[:, None, :]).reshape(
        l_r.shape[0], n_rows * n_cols
    )
    rows, cols = linear_sum_assignment(cost)
    assert rows.size == l_r.shape[0]
    return float(cost[rows, cols].sum())


def tie_costs(vocab_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Small integer costs, negative ones included: many optimal tables."""
    n_rows, n_cols = table_shape(vocab_size)
    rng = np.random.default_rng(seed)
    return (
        rng.integers(-2, 3, size=(vocab_size, n_rows)).astype(np.float64),
        rng.integers(-2, 3, size=(vocab_size, n_cols)).astype(np.float32),
    )


CASES = [
    # (vocab size, cost kind, seed): 25 = 5 x 5 full, 23 and 87 leave empty cells, 90 = 10 x 9
    (25, "synthetic", 0),
    (23, "synthetic", 1),
    (90, "synthetic", 2),
    (87, "synthetic", 3),
    (25, "ties", 4),
    (23, "ties", 5),
    (90, "ties", 6),
    (87, "ties", 7),
]


def costs_for(kind: str, vocab_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "ties":
        return tie_costs(vocab_size, seed)
    spec = SyntheticCosts(tokens_per_word=20.0)
    return synthetic_costs(vocab_size, seed=seed, spec=spec)


def check_table(new: Table, current: Table) -> None:
    assert (new.vocab_size, new.n_rows, new.n_cols) == (
        current.vocab_size,
        current.n_rows,
        current.n_cols,
    )
    assert np.unique(new.cells).size == new.vocab_size  # one word per cell


def check_report(report: AllocationReport, l_r, l_c, new: Table, current: Table) -> None:
    assert report.objective_before == objective(l_r, l_c, current)
    assert report.objective_after == objective(l_r, l_c, new)
    assert report.objective_after <= report.objective_before
    assert report.words_moved == int(np.count_nonzero(new.cells != current.cells))
    assert report.moved_fraction == report.words_moved / current.vocab_size
    json.dumps(report.to_dict())


@pytest.mark.parametrize(("vocab_size", "kind", "seed"), CASES)
@pytest.mark.parametrize("method", ["exact", "auto"])
def test_exact_matches_scipy(vocab_size: int, kind: str, seed: int, method: str) -> None:
    l_r, l_c = costs_for(kind, vocab_size, seed)
    current = Table.random(vocab_size, seed=seed)
    new, report = reallocate(l_r, l_c, current, method=method)
    check_table(new, current)
    check_report(report, l_r, l_c, new, current)
    assert report.method == "exact" and report.solver == "lapjv"
    assert report.objective_after == pytest.approx(dense_optimum(l_r, l_c), rel=1e-12, abs=1e-9)
    assert report.gap_bound == 0.0


@pytest.mark.parametrize(("vocab_size", "kind", "seed"), CASES)
@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_with_every_cell_is_exact(vocab_size: int, kind: str, seed: int, solver: str):
    l_r, l_c = costs_for(kind, vocab_size, seed)
    current = Table.random(vocab_size, seed=seed + 100)
    n_rows, n_cols = table_shape(vocab_size)
    options = {"candidate_rows": max(n_rows, n_cols), "candidates": n_rows * n_cols}
    new, report = reallocate(l_r, l_c, current, config=AllocateConfig(solver, options))
    check_table(new, current)
    check_report(report, l_r, l_c, new, current)
    assert (report.method, report.solver) == (solver, solver)
    optimum = dense_optimum(l_r, l_c)
    if kind == "ties":  # integer costs: the auction's eps < 1/n makes it exact
        assert report.objective_after == optimum
    else:
        assert report.objective_after == pytest.approx(optimum, rel=1e-9)
    if solver == "auction":  # every cell listed: the price bound is tight up to the eps slack
        slack = report.details["sparse_gap_bound"]
        assert optimum - slack - 1e-6 <= report.lower_bound <= optimum + 1e-6


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", range(6))
def test_sparse_few_candidates_valid_and_never_worse(solver: str, seed: int) -> None:
    vocab_size = [23, 87, 200, 401, 90, 1000][seed]
    l_r, l_c = costs_for("ties" if seed % 2 else "synthetic", vocab_size, seed)
    current = Table.random(vocab_size, seed=seed)
    config = AllocateConfig(solver, {"candidate_rows": 2, "candidates": 3})
    new, report = reallocate(l_r, l_c, current, config=config)
    check_table(new, current)
    check_report(report, l_r, l_c, new, current)
    assert report.candidates == 3
    assert report.objective_after >= dense_optimum(l_r, l_c) - 1e-6
    if report.lower_bound is not None:
        assert report.lower_bound <= dense_optimum(l_r, l_c) + 1e-6


def test_sparse_close_to_exact_on_structured_costs() -> None:
    vocab_size = 2000
    l_r, l_c = synthetic_costs(vocab_size, seed=11)
    current = Table.random(vocab_size, seed=12)
    _, exact = reallocate(l_r, l_c, current, method="exact")
    _, sparse = reallocate(l_r, l_c, current, method="sparse")
    assert exact.objective_after <= sparse.objective_after <= exact.objective_after * 1.001
    if sparse.lower_bound is not None:
        assert sparse.lower_bound <= exact.objective_after * (1 + 1e-12)


@pytest.mark.parametrize("vocab_size", [23, 90, 500])
def test_greedy_valid_and_never_worse(vocab_size: int) -> None:
    l_r, l_c = synthetic_costs(vocab_size, seed=vocab_size)
    current = Table.random(vocab_size, seed=1)
    new, report = reallocate(l_r, l_c, current, method="greedy")
    check_table(new, current)
    check_report(report, l_r, l_c, new, current)
    assert (report.method, report.solver) == ("greedy", "greedy")


def test_worse_answer_keeps_the_current_table() -> None:
    l_r, l_c = synthetic_costs(90, seed=3)
    optimal, _ = reallocate(l_r, l_c, Table.random(90, seed=0), method="exact")
    new, report = reallocate(l_r, l_c, optimal, method="greedy")  # greedy misses the optimum here
    assert report.kept_current
    assert new == optimal
    assert report.words_moved == 0
    assert report.objective_after == report.objective_before


def test_objective_sums_row_and_column_costs() -> None:
    l_r = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    l_c = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]], dtype=np.float32)
    table = Table.from_cells(np.array([3, 0, 1]), 2, 2)  # rows 1, 0, 0; cols 1, 0, 1
    assert objective(l_r, l_c, table) == 2.0 + 20.0 + 3.0 + 30.0 + 5.0 + 60.0


def test_bad_inputs_are_named() -> None:
    l_r, l_c = synthetic_costs(23, seed=0)
    current = Table.random(23, seed=0)
    with pytest.raises(DataError, match=r"l_r has shape \(23, 4\).*expected \(23, 5\)"):
        reallocate(l_r[:, :4], l_c, current)
    with pytest.raises(DataError, match=r"l_c has shape \(22, 5\)"):
        reallocate(l_r, l_c[:22], current)
    with pytest.raises(DataError, match="2-D numpy array"):
        reallocate(l_r.ravel(), l_c, current)
    bad = l_c.copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match=r"l_c\[7, 2\] = nan: costs must be finite"):
        reallocate(l_r, bad, current)
    bad = l_r.astype(np.float64)
    bad[3, 1] = np.inf
    with pytest.raises(DataError, match=r"l_r\[3, 1\] = inf"):
        reallocate(bad, l_c, current)
    with pytest.raises(ConfigError, match="method='best'"):
        reallocate(l_r, l_c, current, method="best")
    with pytest.raises(ConfigError, match="over its option max_bytes=100"):
        reallocate(l_r, l_c, current, config=AllocateConfig("exact", {"max_bytes": 100}))
    with pytest.raises(ConfigError, match="raise candidate_rows to at least 12"):
        AllocateConfig("sparse", {"candidates": 128, "candidate_rows": 8})
    with pytest.raises(ConfigError, match=r"method 'exact' has no option 'tol'; its options: max"):
        AllocateConfig("exact", {"tol": 1e-6})
    with pytest.raises(ConfigError, match=r"allocate\.options\.rows='16': must be an integer"):
        AllocateConfig("greedy", {"rows": "16"})


def test_synthetic_costs_are_reproducible_and_shaped() -> None:
    a_r, a_c = synthetic_costs(1000, seed=5)
    b_r, b_c = synthetic_costs(1000, seed=5)
    assert a_r.shape == (1000, 32) and a_c.shape == (1000, 32)
    assert a_r.dtype == np.float32
    np.testing.assert_array_equal(a_r, b_r)
    np.testing.assert_array_equal(a_c, b_c)
    assert (a_r > 0).all() and np.isfinite(a_r).all()
    # Zipf: the first (most frequent) word's costs dwarf the last one's
    assert a_r[0].min() > 10 * a_r[-1].max()


def test_large_sparse_without_numba_asks_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import lightrnn.allocate.auction as auction
    import lightrnn.allocate.sparse as sparse

    monkeypatch.setattr(auction, "HAVE_NUMBA", False)
    monkeypatch.setattr(sparse, "LAPMOD_MAX_WORDS", 20)
    l_r, l_c = synthetic_costs(23, seed=0)
    with pytest.raises(ConfigError, match=r"23 words needs numba.*method='lapmod'"):
        reallocate(l_r, l_c, Table.random(23, seed=0), method="sparse")
    with pytest.raises(ConfigError, match=r"method='auction' needs numba.*method='lapmod'"):
        AllocateConfig("auction")
    _, report = reallocate(l_r, l_c, Table.random(23, seed=0), method="lapmod")
    assert (report.method, report.solver) == ("lapmod", "lapmod")
    assert report.objective_after <= report.objective_before


def test_auto_is_exact_on_small_vocabularies_and_sparse_beyond():
    l_r, l_c = synthetic_costs(400, seed=0)
    _, small = reallocate(l_r, l_c, Table.random(400, seed=0), config=AllocateConfig())
    assert small.method == "exact"
    config = AllocateConfig(options={"exact_words": 300})
    _, large = reallocate(l_r, l_c, Table.random(400, seed=0), config=config)
    assert large.method == "sparse" and large.solver == "auction"
    assert large.objective_after <= small.objective_after * (1 + 1e-4)


def test_a_keep_margin_stops_ties_from_churning_and_never_makes_it_worse():
    """Interchangeable words (equal costs in two rows) move back and forth without a margin;
    with one they stay, while a word that gains much still moves."""
    V = 20  # a 5 x 4 table, full
    rng = np.random.default_rng(0)
    l_r = rng.uniform(10, 20, (V, 5))
    l_c = rng.uniform(10, 20, (V, 4))
    l_r[:, 1] = l_r[:, 0]  # rows 0 and 1 are the same to every word: ties everywhere
    current, _ = reallocate(l_r, l_c, Table.random(V, seed=1), config=AllocateConfig("exact"))
    swapped = current.rows.copy()
    on = np.isin(swapped, [0, 1])
    swapped[on] = 1 - swapped[on]  # the equally good table with rows 0 and 1 exchanged
    tied = Table(swapped, current.cols, 5, 4)
    assert objective(l_r, l_c, tied) == pytest.approx(objective(l_r, l_c, current))
    churn, _ = reallocate(l_r, l_c, tied, config=AllocateConfig("exact"))
    assert churn.moved_fraction(tied) > 0.3  # the solver drifted to another optimum
    for method in ("exact", "sparse", "greedy"):
        _kept, report = reallocate(l_r, l_c, tied, config=AllocateConfig(method, keep_margin=0.01))
        assert report.words_moved == 0, method
        assert report.objective_after <= report.objective_before
    l_r[3, 4] -= 5.0  # now word 3 gains far more than the margin by moving to row 4
    moved, report = reallocate(l_r, l_c, tied, config=AllocateConfig("exact", keep_margin=0.01))
    assert moved.rows[3] == 4 and report.objective_after < report.objective_before
    assert report.lower_bound <= dense_optimum(l_r, l_c) + 1e-9  # still a proven bound


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
@pytest.mark.parametrize("method", ["exact", "sparse", "greedy"])
def test_words_the_costs_never_saw_stay_in_their_cells(method, dtype):
    """A cost sample that missed a word leaves its costs all zero: nothing says where it
    belongs, so it stays, unless a seen word takes its cell; seen words still find their
    optimum."""
    V = 30  # a 6 x 5 table, full
    rng = np.random.default_rng(3)
    l_r = rng.uniform(10, 20, (V, 6))
    l_c = rng.uniform(10, 20, (V, 5))
    unseen = np.arange(20, 30)
    l_r[unseen], l_c[unseen] = 0.0, 0.0
    l_r, l_c = l_r.astype(dtype), l_c.astype(dtype)  # integer costs keep the bonus too
    current = Table.random(V, seed=2)
    new, report = reallocate(l_r, l_c, current, config=AllocateConfig(method))
    taken = set(new.cells[:20].tolist())  # cells the seen words hold now
    for w in unseen:
        if int(current.cells[w]) not in taken:
            assert new.cells[w] == current.cells[w], (method, w)
    assert report.objective_after <= report.objective_before
    if method == "exact":  # the seen words' placement is the optimum the zero costs allow
        assert report.objective_after == pytest.approx(dense_optimum(l_r, l_c))
        assert report.gap_bound == pytest.approx(0.0, abs=1e-9)
    assert report.words_moved == int(np.count_nonzero(new.cells != current.cells))
