"""The co-occurrence starting table groups words that share contexts, where a random table does
not (the synthetic grouped language of tests/test_reallocation_language.py)."""

import numpy as np
import pytest
from test_reallocation_language import GROUPS, SIZE, V, group_purity, language

from lightrnn import DataError, Table
from lightrnn.table_start import cooccurrence_table, profiles, refine_rows


def test_profiles_count_the_frequent_neighbours_on_each_side():
    ids = np.array([0, 2, 1, 2, 0, 3])
    x = profiles(ids, 4, contexts=2)
    # word 2: preceded by 0 and 1, followed by 1 and 0 -> (1/2, 1/2 | 1/2, 1/2) before sqrt
    np.testing.assert_allclose(x[2] ** 2, [0.25, 0.25, 0.25, 0.25], atol=1e-7)
    # word 3: preceded by 0, nothing after
    np.testing.assert_allclose(x[3] ** 2, [1, 0, 0, 0], atol=1e-7)


def test_each_group_of_interchangeable_words_gets_its_own_row():
    ids = language(20_000, np.random.default_rng(0))
    table = cooccurrence_table(ids, V, contexts=V)
    assert (table.n_rows, table.n_cols) == (6, 6)
    assert group_purity(table) == GROUPS * SIZE  # every group alone in a row
    assert group_purity(Table.random(V, seed=0)) < 20
    assert cooccurrence_table(ids, V, contexts=V) == table  # deterministic


def test_with_a_shortlist_only_the_table_words_are_placed():
    ids = language(5_000, np.random.default_rng(1))
    table = cooccurrence_table(ids, V, shortlist=4, contexts=8)
    assert table.vocab_size == V - 4


def test_no_training_ids_is_refused():
    with pytest.raises(DataError, match="training stream"):
        cooccurrence_table(np.array([1]), V)


def test_rows_are_refined_into_clusters_on_the_sparse_solver_too():
    """2,500 words (past `auto`'s switch to the sparse solver) in 50 tight clusters on a grid:
    starting from the order along one axis, which mixes clusters, the rows become the clusters."""
    rng = np.random.default_rng(0)
    centres = np.array([(k % 7, k // 7) for k in range(50)], dtype=float) * 10
    label = np.repeat(np.arange(50), 50)
    points = centres[label] + rng.normal(0, 0.5, (2500, 2))
    order = np.lexsort((np.arange(2500), points[:, 0]))
    cells = np.empty(2500, dtype=np.int64)
    cells[order] = np.arange(2500)
    start = Table.from_cells(cells, 50, 50)

    def purity(table: Table) -> int:
        return sum(int(np.bincount(table.rows[label == k]).max()) for k in range(50))

    assert purity(start) < 2000
    assert purity(refine_rows(points, start, rounds=20)) == 2500
