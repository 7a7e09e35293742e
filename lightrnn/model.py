"""The LightRNN language model (Li et al., NeurIPS 2016, arXiv:1610.09893, section 3).

Each word w sits in cell (r(w), c(w)) of an R x C table and enters the LSTM as two steps: its row
vector x^r, then its column vector x^c (the 2-Component shared embedding). The interleaved stream

    input    x^r(w1)  x^c(w1)  x^r(w2)  x^c(w2)  ...
    output   h^r_1    h^c_1    h^r_2    h^c_2

predicts w_t in two factors: P(w_t) = P_r(r(w_t) | h^c_{t-1}) * P_c(c(w_t) | h^r_t), where h^r_t
has read the *true* row of w_t (teacher forcing, in training and in evaluation alike). The column
softmax masks the empty cells of the given row, so the probabilities of all V words sum to one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn.errors import ConfigError
from lightrnn.lm import LMOutput, RecurrentLM, State, Stepper, autocast, check_common, snapshot
from lightrnn.table import Table, table_shape
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class LightRNNConfig:
    """Sizes of a LightRNN model. The table shape defaults to the smallest near-square one."""

    vocab_size: int
    embed_dim: int = 256  # d: size of each row and column input vector
    hidden_dim: int = 256  # h: LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.0  # on the inputs, between LSTM layers and on the outputs
    n_rows: int = 0  # R; 0 = ceil(sqrt(vocab_size))
    n_cols: int = 0  # C; 0 = ceil(vocab_size / R)
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)

    def __post_init__(self) -> None:
        check_fields(self, "model.")
        check_common(
            self.vocab_size, self.embed_dim, self.hidden_dim, self.num_layers, self.dropout
        )
        if (self.n_rows == 0) != (self.n_cols == 0):
            raise ConfigError("set both n_rows and n_cols, or neither (0 = automatic)")
        if self.n_rows == 0:
            n_rows, n_cols = table_shape(self.vocab_size)
            object.__setattr__(self, "n_rows", n_rows)
            object.__setattr__(self, "n_cols", n_cols)
        if self.n_rows * self.n_cols < self.vocab_size:
            raise ConfigError(
                f"a {self.n_rows} x {self.n_cols} table cannot hold {self.vocab_size} words: "
                "leave n_rows and n_cols at 0 for the automatic shape"
            )


class LightRNN(RecurrentLM):
    """2-Component shared embedding, an LSTM stack, a row head and a masked column head."""

    def __init__(self, config: LightRNNConfig, table: Table | None = None) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = config.vocab_size
        R, C, d, h = config.n_rows, config.n_cols, config.embed_dim, config.hidden_dim
        self.embed_rows = nn.Embedding(R, d)  # X^r
        self.embed_cols = nn.Embedding(C, d)  # X^c
        self.lstm = nn.LSTM(
            d,
            h,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head_rows = nn.Linear(h, R)  # Y^r and its bias
        self.head_cols = nn.Linear(h, C)  # Y^c and its bias
        for emb in (self.embed_rows, self.embed_cols):
            nn.init.uniform_(emb.weight, -0.1, 0.1)
        # The table is data, not parameters: buffers kept out of the state dict.
        self.register_buffer(
            "word_rows", torch.zeros(self.vocab_size, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "word_cols", torch.zeros(self.vocab_size, dtype=torch.long), persistent=False
        )
        self.register_buffer("cell_bias", torch.zeros(R, C), persistent=False)  # 0 / -inf
        self.register_buffer("row_bias", torch.zeros(R), persistent=False)  # 0 / -inf
        self.has_empty_cells = False
        self.table: Table
        self.set_table(
            table if table is not None else Table.random(self.vocab_size, seed=0, shape=(R, C))
        )

    @classmethod
    def seeded(cls, config: LightRNNConfig, table: Table | None, seed: int) -> LightRNN:
        """A model whose initial parameters depend on `seed` alone (not on the global RNG)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config, table)

    def set_table(self, table: Table) -> None:
        """Swap the word -> cell allocation in place; the parameters stay as they are."""
        cfg = self.config
        table.check_fits(cfg.vocab_size, cfg.n_rows, cfg.n_cols, "the model")
        device = self.word_rows.device
        occupied_np = table.occupied()
        occupied = torch.from_numpy(occupied_np).to(device)
        self.word_rows.copy_(torch.tensor(table.rows))
        self.word_cols.copy_(torch.tensor(table.cols))
        neg_inf = torch.tensor(float("-inf"), device=device)
        self.cell_bias.copy_(torch.where(occupied, 0.0, neg_inf))
        self.row_bias.copy_(torch.where(occupied.any(dim=1), 0.0, neg_inf))
        self.has_empty_cells = not bool(occupied_np.all())
        self.table = table

    def spec(self) -> dict:
        return {"kind": "lightrnn", "config": dataclasses.asdict(self.config)}

    def stepper(self, dtype: torch.dtype) -> LightRNNStepper:
        return LightRNNStepper(self, dtype)

    def _hidden(
        self, ids: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, State]:
        """Run the interleaved stream; return rows, cols [B, T] and the predicting states."""
        B, T = ids.shape
        rows = self.word_rows[ids]  # [B, T]
        cols = self.word_cols[ids]  # [B, T]
        if state is None:
            state = self.init_state(B, ids.device)
        x = torch.stack([self.embed_rows(rows), self.embed_cols(cols)], dim=2)  # [B, T, 2, d]
        out, new_state = self.lstm(self.drop(x.view(B, 2 * T, -1)), state)  # [B, 2T, h]
        out = out.view(B, T, 2, -1)
        h_rows = self.predicting_states(out[:, :, 1], state)  # h^c_{t-1}: predicts r(w_t)
        h_cols = out[:, :, 0]  # h^r_t: has read the true row of w_t, predicts c(w_t)
        return rows, cols, self.drop(h_rows), self.drop(h_cols), new_state

    def forward(self, ids: torch.Tensor, state: State | None = None) -> LMOutput:
        """log P(ids[:, t] | history) [B, T] = log P_r(row) + log P_c(col | true row)."""
        with autocast(ids.device, self.config.amp):
            rows, cols, h_rows, h_cols, new_state = self._hidden(ids, state)
            logits_r = self.head_rows(h_rows)  # [B, T, R]
            logits_c = self.head_cols(h_cols)  # [B, T, C]
        logits_r = logits_r.float()
        logits_c = logits_c.float()
        if self.has_empty_cells:
            logits_r = logits_r + self.row_bias
            logits_c = logits_c + self.cell_bias[rows]  # mask the empty cells of the true row
        lp_r = -F.cross_entropy(logits_r.flatten(0, 1), rows.flatten(), reduction="none")
        lp_c = -F.cross_entropy(logits_c.flatten(0, 1), cols.flatten(), reduction="none")
        return LMOutput((lp_r + lp_c).view_as(ids), new_state)

    def factor_log_probs(
        self, ids: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Unmasked log P_r(i | h^c_{t-1}) [B, T, R] and log P_c(j | h^r_t) [B, T, C].

        What reallocation needs: how each word would do in *every* row and column. Unmasked,
        because which cells are empty is exactly what reallocation changes.
        """
        with autocast(ids.device, self.config.amp):
            _, _, h_rows, h_cols, new_state = self._hidden(ids, state)
            logits_r = self.head_rows(h_rows)
            logits_c = self.head_cols(h_cols)
        return (
            F.log_softmax(logits_r.float(), dim=-1),
            F.log_softmax(logits_c.float(), dim=-1),
            new_state,
        )


class LightRNNStepper(Stepper):
    """LightRNN one half-step at a time (see `lightrnn.infer`): a word is its row, then its column.

        read_row   x^r(row) -> h^r -> log P_c(. | h^r), masked to the row's cells    [B, C]
        read_col   x^c(col) -> h^c -> log P_r(. | h^c) of the next word's row        [B, R]

    Layer 0's input gates of the R + C vectors are precomputed (a gather, not a product), and
    the table's masks are folded into the heads' biases (-inf on empty rows and cells).
    """

    def __init__(self, model: LightRNN, dtype: torch.dtype) -> None:
        self.model = model
        self.table = model.table
        self.grid = self._grid()
        super().__init__(model.lstm, dtype, gates_outside=True)

    def _grid(self) -> torch.Tensor:
        """[R, C] word id in each cell, -1 where empty, on the model's device."""
        return torch.from_numpy(self.table.cell_to_word()).to(self.model.word_rows.device)

    def fresh(self) -> dict[str, torch.Tensor]:
        m, dt = self.model, self.dtype
        return {
            "row_gates": self.lstm.input_gates(m.embed_rows.weight),  # [R, 4H]
            "col_gates": self.lstm.input_gates(m.embed_cols.weight),  # [C, 4H]
            "w_row": snapshot(m.head_rows.weight, dt),
            "w_col": snapshot(m.head_cols.weight, dt),
            **self._masked_biases(),
            **super().fresh(),
        }

    def _masked_biases(self) -> dict[str, torch.Tensor]:
        """row_bias [R] = b^r (-inf on empty rows), col_bias [R, C] = b^c (-inf on empty cells)."""
        m, dt = self.model, self.dtype
        return {
            "row_bias": snapshot(m.head_rows.bias + m.row_bias, dt),
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

    def cells_of(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, cols) [B] of word ids [B], read from the model's table buffers in place."""
        return self.model.word_rows.index_select(0, words), self.model.word_cols.index_select(
            0, words
        )

    def words_at(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The word ids [B] in cells (rows, cols); -1 for an empty cell."""
        return self.grid[rows, cols]

    def rows_hold_words(self, rows: torch.Tensor) -> bool:
        return bool(self.model.row_bias[rows].eq(0).all())

    def cells_hold_words(self, rows: torch.Tensor, cols: torch.Tensor) -> bool:
        return bool(self.model.cell_bias[rows, cols].eq(0).all())

    def read_row(
        self, rows: torch.Tensor, h: torch.Tensor, c: torch.Tensor, out: torch.Tensor
    ) -> None:
        w = self.weights
        top = self.lstm(w["row_gates"].index_select(0, rows), h, c, w).to(self.dtype)
        logits = torch.addmm(w["col_bias"].index_select(0, rows), top, w["w_col"].t())  # [B, C]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=out)

    def read_col(
        self, cols: torch.Tensor, h: torch.Tensor, c: torch.Tensor, out: torch.Tensor
    ) -> None:
        w = self.weights
        self.pending(self.lstm(w["col_gates"].index_select(0, cols), h, c, w), out)

    def pending(self, top: torch.Tensor, out: torch.Tensor) -> None:
        w = self.weights
        logits = F.linear(top.to(self.dtype), w["w_row"], w["row_bias"])  # [B, R]
        torch.log_softmax(logits, 1, dtype=torch.float32, out=out)
