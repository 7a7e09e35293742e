"""Baselines on LightRNN's interface: an LSTM LM with a full softmax, and one with an adaptive
softmax (Grave et al. 2017, `torch.nn.AdaptiveLogSoftmaxWithLoss`).

Same data, loop, state handling and evaluation as LightRNN, so every comparison is like for like.
The adaptive softmax assumes ids sorted by decreasing frequency, which `Vocab` guarantees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn.errors import ConfigError
from lightrnn.lm import LMOutput, RecurrentLM, State, autocast, check_common

SOFTMAXES = ("full", "adaptive")


def default_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """Cluster boundaries for the adaptive softmax: a head of the 2,000 most frequent words (or
    half the vocabulary when smaller), then tails growing five-fold."""
    cutoffs = [c for c in (2_000, 10_000, 50_000, 250_000) if c < vocab_size]
    return tuple(cutoffs) if cutoffs else (max(1, vocab_size // 2),)


@dataclass(frozen=True)
class BaselineConfig:
    """An LSTM language model with a word-level output layer."""

    vocab_size: int
    embed_dim: int = 256
    hidden_dim: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    softmax: str = "full"  # "full" or "adaptive"
    cutoffs: tuple[int, ...] = ()  # adaptive only; () = default_cutoffs(vocab_size)
    div_value: float = 4.0  # adaptive only: each tail cluster's projection shrinks by this
    amp: bool = True  # bf16 autocast on CUDA

    def __post_init__(self) -> None:
        check_common(
            self.vocab_size, self.embed_dim, self.hidden_dim, self.num_layers, self.dropout
        )
        if self.softmax not in SOFTMAXES:
            raise ConfigError(f"softmax={self.softmax!r}: choose one of {list(SOFTMAXES)}")
        cutoffs = tuple(int(c) for c in self.cutoffs) or default_cutoffs(self.vocab_size)
        if (
            list(cutoffs) != sorted(set(cutoffs))
            or cutoffs[0] < 1
            or cutoffs[-1] >= self.vocab_size
        ):
            raise ConfigError(
                f"cutoffs={cutoffs}: must be increasing integers in [1, {self.vocab_size})"
            )
        object.__setattr__(self, "cutoffs", cutoffs)


class BaselineLM(RecurrentLM):
    """Word embedding -> LSTM stack -> full or adaptive softmax over the whole vocabulary."""

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = config.vocab_size
        V, d, h = config.vocab_size, config.embed_dim, config.hidden_dim
        self.embed = nn.Embedding(V, d)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        self.lstm = nn.LSTM(
            d,
            h,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        if config.softmax == "full":
            self.head: nn.Module = nn.Linear(h, V)
        else:
            self.head = nn.AdaptiveLogSoftmaxWithLoss(
                h, V, list(config.cutoffs), div_value=config.div_value
            )

    def spec(self) -> dict:
        return {"kind": "baseline", "config": dataclasses.asdict(self.config)}

    def forward(self, ids: torch.Tensor, state: State | None = None) -> LMOutput:
        B, T = ids.shape
        if state is None:
            state = self.init_state(B, ids.device)
        with autocast(ids.device, self.config.amp):
            out, new_state = self.lstm(self.drop(self.embed(ids)), state)  # [B, T, h]
            hidden = self.drop(self.predicting_states(out, state))  # [B, T, h]
            if self.config.softmax == "full":
                logits = self.head(hidden)  # [B, T, V]
        if self.config.softmax == "full":
            log_probs = -F.cross_entropy(
                logits.float().flatten(0, 1), ids.flatten(), reduction="none"
            )
        else:
            # Adaptive softmax in float32: its cluster log-softmaxes are small next to the LSTM.
            log_probs = self.head(hidden.float().flatten(0, 1), ids.flatten()).output
        return LMOutput(log_probs.view(B, T), new_state)

    def full_log_probs(
        self, ids: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """log P(w | history) for every word w: [B, T, V] (for tests and sampling)."""
        B, T = ids.shape
        if state is None:
            state = self.init_state(B, ids.device)
        with autocast(ids.device, self.config.amp):
            out, new_state = self.lstm(self.drop(self.embed(ids)), state)
            hidden = self.drop(self.predicting_states(out, state))
        hidden = hidden.float().flatten(0, 1)
        if self.config.softmax == "full":
            lp = F.log_softmax(self.head(hidden), dim=-1)
        else:
            lp = self.head.log_prob(hidden)
        return lp.view(B, T, -1), new_state
