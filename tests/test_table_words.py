import numpy as np
import pytest

from lightrnn import Table, TableError
from lightrnn.table import frequent_rows, neighbours

TOKENS = ["the", "a", "cat", "dog", "sat", "ran"]
# rows: the, cat, sat -> row 0; a, dog, ran -> row 1; columns by position
TABLE = Table(np.array([0, 1, 0, 1, 0, 1]), np.array([0, 0, 1, 1, 2, 2]), 2, 3)


def test_frequent_rows_list_words_by_frequency():
    rows = frequent_rows(TABLE, TOKENS, n_rows=2, words=2)
    assert [(r.index, r.words, r.size) for r in rows] == [
        (0, ("the", "cat"), 3),
        (1, ("a", "dog"), 3),
    ]


def test_neighbours_of_a_word():
    row, col = neighbours(TABLE, TOKENS, "dog")
    assert row.words == ("a", "dog", "ran") and col.words == ("cat", "dog")
    with pytest.raises(TableError, match="'bird' is not in the vocabulary"):
        neighbours(TABLE, TOKENS, "bird")
    with pytest.raises(TableError, match="the table holds 6 words but the vocabulary has 2"):
        frequent_rows(TABLE, TOKENS[:2])
