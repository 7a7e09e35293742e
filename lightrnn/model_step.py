"""LightRNN one half-step at a time, for streaming inference (`lightrnn.infer`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn.recurrent import Stepper, snapshot


class LightRNNStepper(Stepper):
    """LightRNN one half-step at a time (see `lightrnn.infer`): a word is its row, then its column.

        first      log P(. | h^c) over the K shortlist words and the R rows      [B, K + R]
        read_row   x^r(row) -> h^r -> log P_c(. | h^r), masked to the row's cells    [B, C]
        read_col   x^c(col) -> h^c -> the next word's first distribution           [B, K + R]

    A shortlist word (id < K) reads its own vector at the row step and the shared one at the
    column step, as in `LightRNN.forward`. Layer 0's input gates of every input vector are
    precomputed (a gather, not a product), and the table's masks are folded into the heads'
    biases (-inf on empty rows and cells).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:  # a LightRNN
        self.model = model
        self.table = model.table
        self.K = model.shortlist
        self.grid = self._grid()
        super().__init__(model.lstm, dtype, gates_outside=True)

    def _grid(self) -> torch.Tensor:
        """[R, C] word id in each cell, -1 where empty, on the model's device."""
        words = torch.from_numpy(self.table.cell_to_word())
        grid = torch.where(words >= 0, words + self.K, words)  # table word i is word K + i
        return grid.to(self.model.word_rows.device)

    def fresh(self) -> dict[str, torch.Tensor]:
        m, dt = self.model, self.dtype
        w = {
            "row_gates": self.lstm.input_gates(m.embed_rows.weight),  # [R, 4H]
            "col_gates": self.lstm.input_gates(m.embed_cols.weight),  # [C, 4H]
            "w_first": snapshot(self._first_weight(), dt),  # [K + R, H]
            "w_col": snapshot(m.head_cols.weight, dt),
            **self._masked_biases(),
            **super().fresh(),
        }
        if self.K:
            w["short_gates"] = self.lstm.input_gates(m.embed_short.weight)  # [K, 4H]
            w["short_col_gate"] = self.lstm.input_gates(m.short_col[None])  # [1, 4H]
        return w

    def _first_weight(self) -> torch.Tensor:
        m = self.model
        if not self.K:
            return m.head_rows.weight
        return torch.cat([m.head_short.weight, m.head_rows.weight])

    def _masked_biases(self) -> dict[str, torch.Tensor]:
        """first_bias [K + R] (-inf on empty rows), col_bias [R, C] (-inf on empty cells)."""
        m, dt = self.model, self.dtype
        first = m.head_rows.bias + m.row_bias
        if self.K:
            first = torch.cat([m.head_short.bias, first])
        return {
            "first_bias": snapshot(first, dt),
            "col_bias": snapshot(m.head_cols.bias + m.cell_bias, dt),
        }

    @torch.no_grad()
    def sync(self) -> bool:
        if self.model.table is self.table:
            return False
        self.table = self.model.table
        self.grid = self._grid()
        for name, tensor in self._masked_biases().items():
            self.weights[name].copy_(tensor)
        return True

    # -- words and cells --------------------------------------------------------------------

    def cells_of(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, cols) [B] of word ids [B] (of table word 0 for a shortlist word)."""
        tids = (words - self.K).clamp(min=0) if self.K else words
        m = self.model
        return m.word_rows.index_select(0, tids), m.word_cols.index_select(0, tids)

    def first_index(self, words: torch.Tensor) -> torch.Tensor:
        """Each word's entry in the first distribution: its own (shortlist) or K + its row."""
        rows, _ = self.cells_of(words)
        return torch.where(words < self.K, words, rows + self.K) if self.K else rows

    def words_at(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The word ids [B] in cells (rows, cols); -1 for an empty cell."""
        return self.grid[rows, cols]

    def rows_hold_words(self, rows: torch.Tensor) -> bool:
        return bool(self.model.row_bias[rows].eq(0).all())

    def cells_hold_words(self, rows: torch.Tensor, cols: torch.Tensor) -> bool:
        return bool(self.model.cell_bias[rows, cols].eq(0).all())

    # -- the half-steps -----------------------------------------------------------------------

    def row_gates(self, rows: torch.Tensor, words: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 gates of the row step: of `rows`, or of the shortlist words among `words`."""
        gates = self.weights["row_gates"].index_select(0, rows)
        if self.K and words is not None:
            own = self.weights["short_gates"].index_select(0, words.clamp(max=self.K - 1))
            gates = torch.where((words < self.K)[:, None], own, gates)
        return gates

    def col_gates(self, cols: torch.Tensor, words: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 gates of the column step: of `cols`, or the shared one for shortlist words."""
        gates = self.weights["col_gates"].index_select(0, cols)
        if self.K and words is not None:
            gates = torch.where((words < self.K)[:, None], self.weights["short_col_gate"], gates)
        return gates

    def read_row(
        self,
        gates: torch.Tensor,
        rows: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        out: torch.Tensor,
    ) -> None:
        """The row step from layer-0 `gates`; log P_c(. | h^r) masked to `rows`' cells."""
        w = self.weights
        top = self.lstm(gates, h, c, w).to(self.dtype)
        logits = torch.addmm(w["col_bias"].index_select(0, rows), top, w["w_col"].t())  # [B, C]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=out)

    def read_col(
        self, gates: torch.Tensor, h: torch.Tensor, c: torch.Tensor, out: torch.Tensor
    ) -> None:
        """The column step from layer-0 `gates`; the next word's first distribution."""
        self.pending(self.lstm(gates, h, c, self.weights), out)

    def pending(self, top: torch.Tensor, out: torch.Tensor) -> None:
        w = self.weights
        logits = F.linear(top.to(self.dtype), w["w_first"], w["first_bias"])  # [B, K + R]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=out)
