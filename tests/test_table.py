import numpy as np
import pytest

from lightrnn import Table, TableError, table_shape
from lightrnn.table import EMPTY


@pytest.mark.parametrize(
    ("vocab_size", "shape"),
    [
        (2, (2, 1)),
        (4, (2, 2)),
        (23, (5, 5)),
        (25, (5, 5)),
        (26, (6, 5)),
        (10_000, (100, 100)),
        (33_278, (183, 182)),
        (793_471, (891, 891)),
    ],
)
def test_shape_is_smallest_near_square(vocab_size, shape):
    assert table_shape(vocab_size) == shape
    rows, cols = shape
    assert rows * cols >= vocab_size > rows * (cols - 1)


def test_random_table_is_reproducible_one_to_one_with_empty_cells():
    t = Table.random(23, seed=7)
    assert (t.n_rows, t.n_cols, t.vocab_size) == (5, 5, 23)
    assert t == Table.random(23, seed=7)
    assert t != Table.random(23, seed=8)
    grid = t.cell_to_word()
    assert grid.shape == (5, 5)
    assert (grid == EMPTY).sum() == 2
    assert sorted(grid[grid != EMPTY].tolist()) == list(range(23))
    for w in range(23):
        assert grid[t.rows[w], t.cols[w]] == w
    assert t.occupied().sum() == 23


def test_round_trip_and_digest(tmp_path):
    t = Table.random(1000, seed=3)
    t.save(tmp_path / "t.npz")
    back = Table.load(tmp_path / "t.npz")
    assert back == t and back.digest() == t.digest()
    assert Table.random(1000, seed=4).digest() != t.digest()


def test_moved_fraction():
    t = Table.random(100, seed=0)
    cells = t.cells.copy()
    cells[[0, 1]] = cells[[1, 0]]
    assert t.moved_fraction(Table.from_cells(cells, t.n_rows, t.n_cols)) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("rows", "cols", "shape", "message"),
    [
        ([0, 0, 1], [0, 0, 1], (2, 2), r"cell \(0, 0\) holds several words \[0, 1\]"),
        ([0, 2], [0, 0], (2, 2), r"word 1 has row 2, outside \[0, 2\)"),
        ([0, 0], [0, -1], (2, 2), r"word 1 has column -1"),
        ([0, 0, 1, 1, 0], [0, 1, 0, 1, 0], (2, 2), r"5 words do not fit in a 2 x 2 table"),
        ([0.0, 1.0], [0, 0], (2, 2), "must be integers"),
    ],
)
def test_invalid_tables_say_what_is_wrong(rows, cols, shape, message):
    with pytest.raises(TableError, match=message):
        Table(np.array(rows), np.array(cols), *shape)


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a table")
    with pytest.raises(TableError, match="is not a LightRNN table file"):
        Table.load(tmp_path / "x.npz")
    with pytest.raises(TableError, match="does not exist"):
        Table.load(tmp_path / "missing.npz")


def brute_mates_kept(before: np.ndarray, after: np.ndarray) -> float:
    n = len(before)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j and before[i] == before[j]]
    return sum(after[i] == after[j] for i, j in pairs) / len(pairs)


def test_mates_kept_counts_pairs_that_stay_together_as_a_brute_force_count_does():
    rng = np.random.default_rng(3)
    for seed in range(5):
        a, b = Table.random(23, seed=seed), Table.random(23, seed=seed + 100)
        rows, cols = a.mates_kept(b)
        assert rows == pytest.approx(brute_mates_kept(a.rows, b.rows))
        assert cols == pytest.approx(brute_mates_kept(a.cols, b.cols))
    t = Table.random(30, seed=1)
    assert t.mates_kept(t) == (1.0, 1.0)
    # a relabelling of whole rows and columns moves nearly every word but keeps every group
    perm_r, perm_c = rng.permutation(t.n_rows), rng.permutation(t.n_cols)
    relabelled = Table(perm_r[t.rows], perm_c[t.cols], t.n_rows, t.n_cols)
    assert relabelled.moved_fraction(t) > 0.5 and t.mates_kept(relabelled) == (1.0, 1.0)
