"""Looking inside a table: which words share a row or a column.

After reallocation, words that are predicted in similar contexts share rows and columns; this is
how to see it. Vocabulary ids are in decreasing frequency, so "first" words are the frequent ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lightrnn.errors import TableError
from lightrnn.table import Table


@dataclass(frozen=True)
class Line:
    """One row or column of the table: its index and its words, most frequent first."""

    axis: str  # "row" or "column"
    index: int
    words: tuple[str, ...]
    size: int  # words in this row or column (the shown ones may be fewer)


def _line(table: Table, tokens: Sequence[str], axis: str, index: int, limit: int) -> Line:
    members = np.flatnonzero((table.rows if axis == "row" else table.cols) == index)
    return Line(axis, index, tuple(tokens[w] for w in members[:limit]), int(members.size))


def frequent_rows(
    table: Table, tokens: Sequence[str], n_rows: int = 10, words: int = 10
) -> list[Line]:
    """The `n_rows` rows holding the most frequent words, in that order."""
    _check(table, tokens)
    seen: list[int] = []
    for w in range(table.vocab_size):  # ids are by frequency: first sight of a row = rank
        row = int(table.rows[w])
        if row not in seen:
            seen.append(row)
            if len(seen) == n_rows:
                break
    return [_line(table, tokens, "row", r, words) for r in seen]


def neighbours(
    table: Table, tokens: Sequence[str], word: str, words: int = 10
) -> tuple[Line, Line]:
    """The row and the column of `word`."""
    _check(table, tokens)
    try:
        w = list(tokens).index(word)
    except ValueError as exc:
        raise TableError(f"{word!r} is not in the vocabulary: pick a word the model knows") from exc
    return (
        _line(table, tokens, "row", int(table.rows[w]), words),
        _line(table, tokens, "column", int(table.cols[w]), words),
    )


def _check(table: Table, tokens: Sequence[str]) -> None:
    if len(tokens) != table.vocab_size:
        raise TableError(
            f"the table holds {table.vocab_size} words but the vocabulary has "
            f"{len(tokens)}: pass the vocabulary the table was built for"
        )
