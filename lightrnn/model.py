"""The LightRNN language model (Li et al., NeurIPS 2016, arXiv:1610.09893, section 3).

Each word w sits in cell (r(w), c(w)) of an R x C table and enters the LSTM as two steps: its row
vector x^r, then its column vector x^c (the 2-Component shared embedding). The interleaved stream

    input    x^r(w1)  x^c(w1)  x^r(w2)  x^c(w2)  ...
    output   h^r_1    h^c_1    h^r_2    h^c_2

predicts w_t in two factors: P(w_t) = P_r(r(w_t) | h^c_{t-1}) * P_c(c(w_t) | h^r_t), where h^r_t
has read the *true* row of w_t (teacher forcing, in training and in evaluation alike). The column
softmax masks the empty cells of the given row, so the probabilities of all V words sum to one.

Two options, measured in the quality study (docs/quality.md):
- `shortlist` K > 0, the hybrid head: the K most frequent words (ids 0..K-1: ids are sorted by
  frequency) leave the table and get vectors of their own. The first factor becomes one
  softmax over the K shortlist words and the R rows: a shortlist word is predicted by it alone,
  any other word w by P(row r(w)) * P_c(c(w) | h^r). The table holds the V - K other words (word
  id K + i is table word i). A shortlist word still takes two steps (its own vector, then one
  shared learned vector), so every batch keeps the same shape. The probabilities of all V
  words still sum to one.
- `tie`: each row's (column's, shortlist word's) input vector is also its output vector
  (X^r = Y^r, X^c = Y^c; needs embed_dim == hidden_dim).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn.errors import ConfigError
from lightrnn.recurrent import LMOutput, RecurrentLM, State, Stepper, autocast, check_common
from lightrnn.table import Table, table_shape
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class LightRNNConfig:
    """Sizes of a LightRNN model. The table shape defaults to the smallest near-square one.

    With vocab_size=0 it is a template: the sizes a run chooses before its corpus is read, checked
    as far as they can be; `for_vocab(V)` completes it (a model needs the complete config)."""

    vocab_size: int = 0  # V; 0 = not known yet (a template, see for_vocab)
    embed_dim: int = 256  # d: size of each row and column input vector
    hidden_dim: int = 256  # h: LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.0  # on the inputs, between LSTM layers and on the outputs
    n_rows: int = 0  # R; 0 = ceil(sqrt(vocab_size))
    n_cols: int = 0  # C; 0 = ceil(vocab_size / R)
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    shortlist: int = 0  # K: the most frequent words, outside the table with their own vectors
    tie: bool = False  # input vectors are the output vectors (needs embed_dim == hidden_dim)

    def __post_init__(self) -> None:
        check_fields(self, "model.")
        template = self.vocab_size == 0
        check_common(
            None if template else self.vocab_size,
            self.embed_dim,
            self.hidden_dim,
            self.num_layers,
            self.dropout,
        )
        if self.tie and self.embed_dim != self.hidden_dim:
            raise ConfigError(
                f"tie=True needs embed_dim == hidden_dim (got {self.embed_dim} and "
                f"{self.hidden_dim}): make them equal, or set tie=False"
            )
        if self.shortlist < 0 or (not template and self.shortlist > self.vocab_size - 2):
            bound = "0 or more" if template else f"in [0, {self.vocab_size - 2}]"
            raise ConfigError(
                f"shortlist={self.shortlist}: must be {bound} (the table keeps at least 2 words)"
            )
        if (self.n_rows == 0) != (self.n_cols == 0):
            raise ConfigError("set both n_rows and n_cols, or neither (0 = automatic)")
        if self.n_rows < 0 or self.n_cols < 0:
            raise ConfigError(f"n_rows={self.n_rows}, n_cols={self.n_cols}: must not be negative")
        if template:
            return
        if self.n_rows == 0:
            n_rows, n_cols = table_shape(self.table_words)
            object.__setattr__(self, "n_rows", n_rows)
            object.__setattr__(self, "n_cols", n_cols)
        if self.n_rows * self.n_cols < self.table_words:
            raise ConfigError(
                f"a {self.n_rows} x {self.n_cols} table cannot hold {self.table_words} words: "
                "leave n_rows and n_cols at 0 for the automatic shape"
            )

    def for_vocab(self, vocab_size: int) -> LightRNNConfig:
        """This config for a `vocab_size`-word vocabulary (checked again, now completely)."""
        if self.vocab_size not in (0, vocab_size):
            raise ConfigError(
                f"for_vocab({vocab_size}) on a config built for {self.vocab_size} words: "
                "complete a template (vocab_size=0) instead"
            )
        return dataclasses.replace(self, vocab_size=vocab_size)

    @property
    def table_words(self) -> int:
        """Words in the table: the vocabulary less the shortlist."""
        return self.vocab_size - self.shortlist


class LightRNN(RecurrentLM):
    """2-Component shared embedding, an LSTM stack, a row head and a masked column head."""

    def __init__(self, config: LightRNNConfig, table: Table | None = None) -> None:
        super().__init__()
        if config.vocab_size == 0:
            raise ConfigError(
                "LightRNNConfig has vocab_size=0 (a template): build the model from "
                "config.for_vocab(V), V the vocabulary's size"
            )
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
        self.shortlist = K = config.shortlist
        if K:
            self.embed_short = nn.Embedding(K, d)  # the shortlist words' own vectors
            nn.init.uniform_(self.embed_short.weight, -0.1, 0.1)
            self.short_col = nn.Parameter(torch.empty(d).uniform_(-0.1, 0.1))  # their 2nd step
            self.head_short = nn.Linear(h, K)  # their entries in the first softmax
        if config.tie:
            self.head_rows.weight = self.embed_rows.weight
            self.head_cols.weight = self.embed_cols.weight
            if K:
                self.head_short.weight = self.embed_short.weight
        # The table is data, not parameters: buffers kept out of the state dict.
        n_table = config.table_words
        self.register_buffer("word_rows", torch.zeros(n_table, dtype=torch.long), persistent=False)
        self.register_buffer("word_cols", torch.zeros(n_table, dtype=torch.long), persistent=False)
        self.register_buffer("cell_bias", torch.zeros(R, C), persistent=False)  # 0 / -inf
        self.register_buffer("row_bias", torch.zeros(R), persistent=False)  # 0 / -inf
        self.has_empty_cells = False
        self.table: Table
        self.set_table(table if table is not None else Table.random(n_table, seed=0, shape=(R, C)))

    @classmethod
    def seeded(cls, config: LightRNNConfig, table: Table | None, seed: int) -> LightRNN:
        """A model whose initial parameters depend on `seed` alone (not on the global RNG)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config, table)

    def set_table(self, table: Table) -> None:
        """Swap the word -> cell allocation in place; the parameters stay as they are."""
        cfg = self.config
        table.check_fits(cfg.table_words, cfg.n_rows, cfg.n_cols, "the model")
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

    def stepper(self, dtype: torch.dtype) -> Stepper:
        from lightrnn.model_step import LightRNNStepper  # the model one half-step at a time

        return LightRNNStepper(self, dtype)

    def first_targets(self, ids: torch.Tensor) -> torch.Tensor:
        """Index of each word in the first softmax: a shortlist word's own entry, or K + its
        row."""
        rows = self.word_rows[self.table_ids(ids)]
        return torch.where(ids < self.shortlist, ids, rows + self.shortlist)

    def table_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Table word of each id (shortlist words map to table word 0: their rows are unused)."""
        return (ids - self.shortlist).clamp(min=0) if self.shortlist else ids

    def first_bias(self) -> torch.Tensor:
        """0 / -inf over the first softmax's K + R entries: no empty row is ever predicted."""
        return F.pad(self.row_bias, (self.shortlist, 0)) if self.shortlist else self.row_bias

    def _hidden(
        self, ids: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, State]:
        """Run the interleaved stream; return rows, cols [B, T] and the predicting states."""
        B, T = ids.shape
        tids = self.table_ids(ids)
        rows = self.word_rows[tids]  # [B, T]
        cols = self.word_cols[tids]  # [B, T]
        if state is None:
            state = self.init_state(B, ids.device)
        x_r, x_c = self.embed_rows(rows), self.embed_cols(cols)  # [B, T, d]
        if self.shortlist:
            short = (ids < self.shortlist).unsqueeze(-1)
            x_r = torch.where(short, self.embed_short(ids.clamp(max=self.shortlist - 1)), x_r)
            x_c = torch.where(short, self.short_col.to(x_c.dtype), x_c)
        x = torch.stack([x_r, x_c], dim=2)  # [B, T, 2, d]
        out, new_state = self.lstm(self.drop(x.view(B, 2 * T, -1)), state)  # [B, 2T, h]
        out = out.view(B, T, 2, -1)
        h_rows = self.predicting_states(out[:, :, 1], state)  # h^c_{t-1}: predicts r(w_t)
        h_cols = out[:, :, 0]  # h^r_t: has read the true row of w_t, predicts c(w_t)
        return rows, cols, self.drop(h_rows), self.drop(h_cols), new_state

    def first_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits of the first factor [.., K + R]: the shortlist words, then the rows."""
        logits = self.head_rows(h)
        return torch.cat([self.head_short(h), logits], dim=-1) if self.shortlist else logits

    def forward(self, ids: torch.Tensor, state: State | None = None) -> LMOutput:
        """log P(ids[:, t] | history) [B, T] = log P_r(row) + log P_c(col | true row); for a
        shortlist word, its own entry of the first softmax."""
        with autocast(ids.device, self.config.amp):
            rows, cols, h_rows, h_cols, new_state = self._hidden(ids, state)
            logits_r = self.first_logits(h_rows)  # [B, T, K + R]
            logits_c = self.head_cols(h_cols)  # [B, T, C]
        logits_r = logits_r.float()
        logits_c = logits_c.float()
        if self.has_empty_cells:
            logits_r = logits_r + self.first_bias()
            logits_c = logits_c + self.cell_bias[rows]  # mask the empty cells of the true row
        first = self.first_targets(ids)
        lp_r = -F.cross_entropy(logits_r.flatten(0, 1), first.flatten(), reduction="none")
        lp_c = -F.cross_entropy(logits_c.flatten(0, 1), cols.flatten(), reduction="none")
        if self.shortlist:
            lp_c = torch.where(ids.flatten() < self.shortlist, 0.0, lp_c)
        return LMOutput((lp_r + lp_c).view_as(ids), new_state)

    def factor_log_probs(
        self, ids: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Unmasked log P_r(i | h^c_{t-1}) [B, T, R] and log P_c(j | h^r_t) [B, T, C].

        What reallocation needs: how each word would do in *every* row and column. Unmasked,
        because which cells are empty is exactly what reallocation changes. With a shortlist,
        the rows' part of the first softmax; its values at shortlist words' positions mean
        nothing (the costs skip them).
        """
        with autocast(ids.device, self.config.amp):
            _, _, h_rows, h_cols, new_state = self._hidden(ids, state)
            logits_r = self.first_logits(h_rows)
            logits_c = self.head_cols(h_cols)
        return (
            F.log_softmax(logits_r.float(), dim=-1)[..., self.shortlist :],
            F.log_softmax(logits_c.float(), dim=-1),
            new_state,
        )
