"""Batches for truncated BPTT over one long token stream (pytorch/examples' `batchify`).

The stream is cut into `batch_size` contiguous rows and read in windows of `bptt` tokens:

    stream  a b c d e f g h i j k l m n o p q r s t u v w x      (24 ids, batch_size 4)

    row 0   a b c d e f        window 0 = columns 0..3, window 1 = columns 4..5
    row 1   g h i j k l        the recurrent state of row b carries over from one window
    row 2   m n o p q r        to the next, so every id is predicted once per epoch
    row 3   s t u v w x        (the first of each row from the initial state)

A stream is anything with `len()` and slicing to a numpy array: an in-memory array, a
memory-mapped one, or several Arrow shards read as one. Only a window is ever copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from lightrnn.errors import DataError


class TokenStream(Protocol):
    """A 1-D sequence of token ids that can be sliced without loading it whole."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> np.ndarray: ...


def check_ids(ids: np.ndarray, vocab_size: int, where: str = "token ids") -> None:
    """Raise a DataError naming the first id outside [0, vocab_size)."""
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        bad = int(np.flatnonzero((ids < 0) | (ids >= vocab_size))[0])
        raise DataError(
            f"{where}: id {int(ids.flat[bad])} at position {bad} is outside the vocabulary "
            f"[0, {vocab_size}); encode the text with the model's own vocabulary"
        )


class Batches:
    """Training windows: `len(self)` windows of ids [batch_size, <= bptt] per epoch.

    Tokens past the last full row (fewer than batch_size) are left out, as in pytorch/examples.
    """

    def __init__(
        self,
        stream: TokenStream,
        batch_size: int,
        bptt: int,
        vocab_size: int | None = None,
        part: tuple[int, int] = (0, 1),
    ) -> None:
        """`part=(k, n)`: the stream is cut into batch_size x n rows and this reads rows
        k * batch_size .. (k + 1) * batch_size - 1 (process k of n in data-parallel training)."""
        k, parts = part
        if batch_size < 1 or bptt < 1 or parts < 1 or not 0 <= k < parts:
            raise DataError(
                f"batch_size={batch_size} and bptt={bptt} must be at least 1, and part={part} "
                "a (k, n) with 0 <= k < n"
            )
        n = len(stream)
        if n < batch_size * parts:
            raise DataError(
                f"the token stream has {n} ids, fewer than batch_size={batch_size} x "
                f"{parts} process(es): use a longer text or a smaller batch size"
            )
        self.stream = stream
        self.batch_size = batch_size
        self.bptt = bptt
        self.vocab_size = vocab_size
        self.first_row = k * batch_size
        self.row_len = n // (batch_size * parts)

    def __len__(self) -> int:
        return -(-self.row_len // self.bptt)

    @property
    def tokens_per_epoch(self) -> int:
        return self.row_len * self.batch_size

    def window(self, index: int) -> torch.Tensor:
        """Window `index` as int64 ids [batch_size, T], T = bptt except maybe the last."""
        if not 0 <= index < len(self):
            raise DataError(f"window {index} is outside [0, {len(self)})")
        start = index * self.bptt
        stop = min(start + self.bptt, self.row_len)
        rows = [
            self.stream[b * self.row_len + start : b * self.row_len + stop]
            for b in range(self.first_row, self.first_row + self.batch_size)
        ]
        ids = np.stack(rows).astype(np.int64, copy=False)  # [B, T]
        if self.vocab_size is not None:
            check_ids(ids, self.vocab_size, where=f"batch window {index}")
        return torch.from_numpy(ids)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (self.window(i) for i in range(len(self)))


def eval_windows(
    stream: TokenStream, batch_size: int, bptt: int, part: tuple[int, int] = (0, 1)
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Windows that cover *every* id of the stream once: (ids [B, T], mask [B, T] bool).

    Rows differ in length by at most one; padded positions have mask False. Evaluation with
    batch_size=1 gives exactly the log-likelihood of the stream read from the initial state.
    `part=(k, n)`: only the segments b with b % n == k (process k of n; together, all of them).
    """
    n = len(stream)
    if n == 0:
        raise DataError("cannot evaluate an empty token stream: pass at least one token")
    batch_size = max(1, min(batch_size, n))
    base, extra = divmod(n, batch_size)
    lengths = [base + (1 if b < extra else 0) for b in range(batch_size)]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row_len = lengths[0]
    mine = list(range(part[0], batch_size, part[1]))
    lengths, starts = [lengths[b] for b in mine], [starts[b] for b in mine]
    batch_size = len(mine)
    if batch_size == 0:  # more processes than segments: nothing to read here
        return
    for start in range(0, row_len, bptt):
        stop = min(start + bptt, row_len)
        ids = np.zeros((batch_size, stop - start), dtype=np.int64)
        mask = np.zeros((batch_size, stop - start), dtype=bool)
        for b in range(batch_size):
            hi = min(stop, lengths[b])
            if hi > start:
                ids[b, : hi - start] = stream[starts[b] + start : starts[b] + hi]
                mask[b, : hi - start] = True
        yield torch.from_numpy(ids), torch.from_numpy(mask)
