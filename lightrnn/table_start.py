"""A starting table from co-occurrence statistics, instead of the paper's random one.

Words that follow and precede the same words should share a row: the row softmax then predicts
a group of interchangeable words, and the column tells them apart, which is what reallocation
converges to from a random start. Here each table word gets a profile, its distributions over the
`contexts` most frequent words just before and just after it (ids 0..contexts-1: ids are in
frequency order), square-rooted (Hellinger, so frequent and rare words compare), reduced to
`dims` principal components. Rows are then balanced clusters of profiles: words sorted by the
first component fill the rows in order, and a few rounds of assigning every word to the row
whose mean profile is nearest, each row keeping exactly its cells (the reallocation solver, with
the distances as row costs), refine them. Columns are left as the solver places them.
"""

from __future__ import annotations

import numpy as np

from lightrnn.allocate import AllocateConfig, reallocate
from lightrnn.errors import DataError
from lightrnn.table import Table, table_shape


def profiles(ids: np.ndarray, vocab_size: int, contexts: int) -> np.ndarray:
    """[V, 2 x contexts] float32: each word's counts of the frequent words before and after it,
    as square-rooted distributions (zeros for a word never seen next to one)."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.zeros((vocab_size, 2 * contexts), dtype=np.float64)
    for word, other, offset in ((ids[1:], ids[:-1], 0), (ids[:-1], ids[1:], contexts)):
        keep = other < contexts
        flat = word[keep] * (2 * contexts) + offset + other[keep]
        out += np.bincount(flat, minlength=vocab_size * 2 * contexts).reshape(out.shape)
    totals = out.sum(axis=1, keepdims=True)
    return np.sqrt(out / np.maximum(totals, 1)).astype(np.float32)


def cooccurrence_table(
    ids: np.ndarray,
    vocab_size: int,
    shortlist: int = 0,
    contexts: int = 256,
    dims: int = 16,
    rounds: int = 4,
) -> Table:
    """The starting table of the `vocab_size - shortlist` table words (id K + i is table word i)
    from the training ids `ids`; deterministic."""
    words = vocab_size - shortlist
    if len(ids) < 2:
        raise DataError("a co-occurrence table needs training ids: pass the training stream")
    contexts = max(1, min(contexts, vocab_size))
    x = profiles(ids, vocab_size, contexts)[shortlist:]
    x -= x.mean(axis=0)
    _, vectors = np.linalg.eigh(x.T.astype(np.float64) @ x)  # ascending eigenvalues
    top = vectors[:, ::-1][:, : max(1, min(dims, x.shape[1]))]
    top *= np.sign(top[np.abs(top).argmax(axis=0), range(top.shape[1])])  # a fixed orientation
    points = (x @ top).astype(np.float64)  # [W, dims]
    n_rows, n_cols = table_shape(words)
    order = np.lexsort((np.arange(words), points[:, 0]))
    cells = np.empty(words, dtype=np.int64)
    cells[order] = np.arange(words)
    return refine_rows(points, Table.from_cells(cells, n_rows, n_cols), rounds)


def refine_rows(points: np.ndarray, table: Table, rounds: int) -> Table:
    """Balanced clustering of `points` [W, dims] into the table's rows, from `table`: each
    round moves every word to the row whose mean point is nearest, every row keeping its cells
    (the assignment solver, squared distances as row costs), until no row changes."""
    words, n_rows, n_cols = table.vocab_size, table.n_rows, table.n_cols
    # Columns do not matter here, but all-equal column costs would give every word the same
    # few candidate cells in the sparse solver: a tiny cost that differs by word spreads them.
    spread = 1e-9 * ((np.arange(n_cols) + np.arange(words)[:, None]) % n_cols)
    for _ in range(rounds):
        centroids = np.zeros((n_rows, points.shape[1]))
        np.add.at(centroids, table.rows, points)
        centroids /= np.maximum(np.bincount(table.rows, minlength=n_rows), 1)[:, None]
        # squared distances [W, R] without a [W, R, dims] temporary
        distance = (points**2).sum(1)[:, None] - 2 * points @ centroids.T + (centroids**2).sum(1)
        new, _ = reallocate(distance, spread, table, config=AllocateConfig())
        if np.array_equal(new.rows, table.rows):
            break
        table = new
    return table
