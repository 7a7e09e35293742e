"""The LightRNN allocation: which cell (row, column) of an R x C table holds each word.

R = ceil(sqrt(V)), C = ceil(V / R) (Li et al. 2016, section 3.1); the R * C - V cells left over
are empty. The table is data, not model shape: it is swapped after every reallocation while the
model keeps its 2 * sqrt(V) embedding vectors.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightrnn.errors import TableError

EMPTY = -1  # cell_to_word value of a cell that holds no word


def table_shape(vocab_size: int) -> tuple[int, int]:
    """(n_rows, n_cols) of the smallest near-square table that holds `vocab_size` words."""
    if vocab_size < 2:
        raise TableError(
            f"vocab_size={vocab_size}: a LightRNN table needs at least 2 words; "
            "build the vocabulary from a larger corpus or lower min_count"
        )
    n_rows = math.isqrt(vocab_size - 1) + 1  # ceil(sqrt(V)) without float rounding
    n_cols = -(-vocab_size // n_rows)
    return n_rows, n_cols


@dataclass(frozen=True, eq=False)
class Table:
    """Word -> cell allocation. `rows[w]`, `cols[w]` are word w's row and column (int64, [V])."""

    rows: np.ndarray  # [V] int64, in [0, n_rows)
    cols: np.ndarray  # [V] int64, in [0, n_cols)
    n_rows: int
    n_cols: int

    def __post_init__(self) -> None:
        rows = np.asarray(self.rows)
        cols = np.asarray(self.cols)
        if rows.ndim != 1 or cols.ndim != 1 or rows.shape != cols.shape:
            raise TableError(
                f"rows {rows.shape} and cols {cols.shape} must be 1-D arrays of the same length "
                "(one entry per word)"
            )
        for name, arr in (("rows", rows), ("cols", cols)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise TableError(f"table {name} must be integers, got dtype {arr.dtype}")
        if self.n_rows < 1 or self.n_cols < 1:
            raise TableError(f"table shape {self.n_rows} x {self.n_cols} must be at least 1 x 1")
        vocab_size = rows.shape[0]
        if vocab_size > self.n_rows * self.n_cols:
            raise TableError(
                f"{vocab_size} words do not fit in a {self.n_rows} x {self.n_cols} table "
                f"({self.n_rows * self.n_cols} cells); use Table.random({vocab_size}, seed) "
                "for a table of the right size"
            )
        for name, arr, limit in (("row", rows, self.n_rows), ("column", cols, self.n_cols)):
            bad = np.flatnonzero((arr < 0) | (arr >= limit))
            if bad.size:
                w = int(bad[0])
                raise TableError(
                    f"word {w} has {name} {int(arr[w])}, outside [0, {limit}) "
                    f"({bad.size} words out of range)"
                )
        cells = rows.astype(np.int64) * self.n_cols + cols
        uniq, counts = np.unique(cells, return_counts=True)
        if uniq.size != vocab_size:
            cell = int(uniq[np.argmax(counts > 1)])
            words = np.flatnonzero(cells == cell)[:5].tolist()
            raise TableError(
                f"cell ({cell // self.n_cols}, {cell % self.n_cols}) holds several words "
                f"{words}: a table must be one-to-one ({vocab_size - uniq.size} collisions)"
            )
        rows = rows.astype(np.int64, copy=True)
        cols = cols.astype(np.int64, copy=True)
        rows.flags.writeable = False
        cols.flags.writeable = False
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)

    @classmethod
    def random(cls, vocab_size: int, seed: int = 0, shape: tuple[int, int] | None = None) -> Table:
        """A uniformly random allocation (the bootstrap's start), reproducible from `seed`."""
        n_rows, n_cols = shape if shape is not None else table_shape(vocab_size)
        if vocab_size > n_rows * n_cols:
            raise TableError(f"{vocab_size} words do not fit in a {n_rows} x {n_cols} table")
        rng = np.random.default_rng(seed)
        cells = rng.permutation(n_rows * n_cols)[:vocab_size]
        return cls.from_cells(cells, n_rows, n_cols)

    @classmethod
    def from_cells(cls, cells: np.ndarray, n_rows: int, n_cols: int) -> Table:
        """Build from flat cell indices (row * n_cols + col), one per word."""
        cells = np.asarray(cells, dtype=np.int64)
        if cells.size and (cells.min() < 0 or cells.max() >= n_rows * n_cols):
            raise TableError(f"cell indices must lie in [0, {n_rows * n_cols})")
        return cls(cells // n_cols, cells % n_cols, n_rows, n_cols)

    @property
    def vocab_size(self) -> int:
        return int(self.rows.shape[0])

    @property
    def n_cells(self) -> int:
        return self.n_rows * self.n_cols

    @property
    def cells(self) -> np.ndarray:
        """Flat cell index of each word, [V] int64."""
        return self.rows * self.n_cols + self.cols

    def cell_to_word(self) -> np.ndarray:
        """[n_rows, n_cols] int64: the word in each cell, EMPTY (-1) where there is none."""
        grid = np.full(self.n_cells, EMPTY, dtype=np.int64)
        grid[self.cells] = np.arange(self.vocab_size)
        return grid.reshape(self.n_rows, self.n_cols)

    def occupied(self) -> np.ndarray:
        """[n_rows, n_cols] bool: True where a cell holds a word."""
        return self.cell_to_word() != EMPTY

    def moved_fraction(self, other: Table) -> float:
        """Fraction of words whose cell differs between this table and `other`."""
        self.check_fits(other.vocab_size, other.n_rows, other.n_cols, "the other table")
        return float(np.mean(self.cells != other.cells))

    def mates_kept(self, other: Table) -> tuple[float, float]:
        """Of the word pairs that share a row in this table, the share that still share one in
        `other`; the same for columns. Unlike `moved_fraction` it does not count a whole row
        (column) that only changed its index: it says whether the grouping itself changed."""
        self.check_fits(other.vocab_size, other.n_rows, other.n_cols, "the other table")

        def kept(before: np.ndarray, after: np.ndarray, n: int) -> float:
            pairs = np.bincount(before * n + after, minlength=n * n).astype(np.float64)
            sizes = np.bincount(before, minlength=n).astype(np.float64)
            together = float((sizes * (sizes - 1)).sum())
            return float((pairs * (pairs - 1)).sum()) / together if together else 1.0

        return (
            kept(self.rows, other.rows, max(self.n_rows, 1)),
            kept(self.cols, other.cols, max(self.n_cols, 1)),
        )

    def check_fits(self, vocab_size: int, n_rows: int, n_cols: int, where: str) -> None:
        """Raise a TableError unless this table has `vocab_size` words in n_rows x n_cols."""
        if (self.vocab_size, self.n_rows, self.n_cols) != (vocab_size, n_rows, n_cols):
            raise TableError(
                f"{where} expects {vocab_size} words in {n_rows} x {n_cols} but the table holds "
                f"{self.vocab_size} words in {self.n_rows} x {self.n_cols}: use "
                f"Table.random({vocab_size}, seed) or a table saved for that vocabulary"
            )

    def digest(self) -> str:
        """sha256 of the allocation's content (shape and cells), stable across platforms."""
        h = hashlib.sha256()
        h.update(np.array([self.n_rows, self.n_cols], dtype="<i8").tobytes())
        h.update(self.cells.astype("<i8").tobytes())
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return (
            self.n_rows == other.n_rows
            and self.n_cols == other.n_cols
            and np.array_equal(self.rows, other.rows)
            and np.array_equal(self.cols, other.cols)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable

    def to_bytes(self) -> bytes:
        """Serialise as an .npz (no pickle) that `from_bytes` reads back."""
        buf = io.BytesIO()
        np.savez(
            buf,
            rows=self.rows,
            cols=self.cols,
            shape=np.array([self.n_rows, self.n_cols], dtype=np.int64),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Table:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                rows, cols, shape = npz["rows"], npz["cols"], npz["shape"]
        except (OSError, ValueError, KeyError) as exc:
            raise TableError(
                f"{source} is not a LightRNN table file ({exc}); write one with Table.save"
            ) from exc
        return cls(rows, cols, int(shape[0]), int(shape[1]))

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Table:
        path = Path(path)
        if not path.is_file():
            raise TableError(f"table file '{path}' does not exist: pass the path of a saved table")
        return cls.from_bytes(path.read_bytes(), source=f"table file '{path}'")


# -- looking inside: which words share a row or a column -------------------------------------
# After reallocation, words predicted in similar contexts share rows and columns; this is how to
# see it. Vocabulary ids are in decreasing frequency, so "first" words are the frequent ones.


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
