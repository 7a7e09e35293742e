"""The floor of bench/throughput.py: LightRNN without an output layer.

Its 2-component input and its LSTM over the doubled (row, column) sequence, 2T steps per window
of T words, and a loss that is a mean of the top layer's outputs: the time no LightRNN step can
go under, whatever its output layer does.
"""

from __future__ import annotations

import torch
from torch import nn

from lightrnn.recurrent import LMOutput, RecurrentLM, State, autocast
from lightrnn.table import table_shape


class FloorLM(RecurrentLM):
    """Embedding of R + C cells -> LSTM stack over 2T steps -> mean of its outputs."""

    def __init__(self, vocab_size: int, hidden: int, layers: int, amp: bool) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.n_rows, self.n_cols = table_shape(vocab_size)
        self.amp = amp
        self.embed = nn.Embedding(self.n_rows + self.n_cols, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> LMOutput:
        B, T = ids.shape
        if state is None:
            state = self.init_state(B, ids.device)
        # each word's row and its column, as indices into the one embedding of R + C cells
        cells = torch.stack([ids % self.n_rows, self.n_rows + ids % self.n_cols], dim=2)  # [B,T,2]
        with autocast(ids.device, self.amp):
            out, new_state = self.lstm(self.embed(cells.view(B, 2 * T)), state)  # [B, 2T, h]
        return LMOutput(out.float().reshape(B, T, -1).mean(dim=2), new_state)  # [B, T]
