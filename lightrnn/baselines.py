"""Baselines on LightRNN's interface: an LSTM LM with a full softmax, and one with an adaptive
softmax (Grave et al. 2017, `torch.nn.AdaptiveLogSoftmaxWithLoss`).

Same data, loop, state handling and evaluation as LightRNN, so every comparison is like for like.
The adaptive softmax assumes ids sorted by decreasing frequency, which `Vocab` guarantees.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightrnn.errors import ConfigError
from lightrnn.recurrent import (
    LMOutput,
    RecurrentLM,
    State,
    Stepper,
    autocast,
    check_common,
    snapshot,
)
from lightrnn.validation import check_fields

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
    tie: bool = False  # full only: the output layer's weights are the input embedding

    def __post_init__(self) -> None:
        check_fields(self, "model.")
        check_common(
            self.vocab_size, self.embed_dim, self.hidden_dim, self.num_layers, self.dropout
        )
        if self.softmax not in SOFTMAXES:
            raise ConfigError(f"softmax={self.softmax!r}: choose one of {list(SOFTMAXES)}")
        if self.tie and (self.softmax != "full" or self.embed_dim != self.hidden_dim):
            raise ConfigError(
                f"tie=True with softmax={self.softmax!r}, embed_dim={self.embed_dim}, "
                f"hidden_dim={self.hidden_dim}: tying needs the full softmax and "
                "embed_dim == hidden_dim; change those, or set tie=False"
            )
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
            if config.tie:  # one [V, d] matrix reads and predicts words (Press & Wolf, 2017)
                self.head.weight = self.embed.weight
        else:
            self.head = nn.AdaptiveLogSoftmaxWithLoss(
                h, V, list(config.cutoffs), div_value=config.div_value
            )

    def spec(self) -> dict:
        return {"kind": "baseline", "config": dataclasses.asdict(self.config)}

    def stepper(self, dtype: torch.dtype) -> BaselineStepper:
        return BaselineStepper(self, dtype)

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


class BaselineStepper(Stepper):
    """A baseline one word at a time (see `lightrnn.infer`): embedding -> LSTM -> the whole
    vocabulary's log-probabilities [B, V], full or adaptive."""

    def __init__(self, model: BaselineLM, dtype: torch.dtype) -> None:
        self.model = model
        super().__init__(model.lstm, dtype, gates_outside=False)

    def fresh(self) -> dict[str, torch.Tensor]:
        m, dt = self.model, self.dtype
        w = {"embed": snapshot(m.embed.weight, dt), **super().fresh()}
        if m.config.softmax == "full":
            w["w_out"], w["b_out"] = snapshot(m.head.weight, dt), snapshot(m.head.bias, dt)
            return w
        head = m.head  # nn.AdaptiveLogSoftmaxWithLoss
        w["w_head"] = snapshot(head.head.weight, dt)
        if head.head.bias is not None:
            w["b_head"] = snapshot(head.head.bias, dt)
        for i, tail in enumerate(head.tail):
            w[f"tail{i}_in"] = snapshot(tail[0].weight, dt)
            w[f"tail{i}_out"] = snapshot(tail[1].weight, dt)
        return w

    def read_word(
        self, words: torch.Tensor, h: torch.Tensor, c: torch.Tensor, out: torch.Tensor
    ) -> None:
        """Read words [B]; the next word's log P(. | history) [B, V] into `out`."""
        w = self.weights
        x = w["embed"].index_select(0, words)  # [B, d]
        gates = F.linear(x, w["lstm.w_ih0"], w["lstm.b0"]).float()
        self.pending(self.lstm(gates, h, c, w), out)

    def pending(self, top: torch.Tensor, out: torch.Tensor) -> None:
        w, t = self.weights, top.to(self.dtype)
        if self.model.config.softmax == "full":
            logits = F.linear(t, w["w_out"], w["b_out"])  # [B, V]
            torch.log_softmax(logits, 1, dtype=torch.float32, out=out)
            return
        # nn.AdaptiveLogSoftmaxWithLoss._get_full_log_prob, on the snapshot.
        head = self.model.head
        short = head.shortlist_size
        head_lp = F.log_softmax(F.linear(t, w["w_head"], w.get("b_head")).float(), dim=1)
        out[:, :short].copy_(head_lp[:, :short])
        for i, (start, stop) in enumerate(itertools.pairwise(head.cutoffs)):
            tail = F.linear(F.linear(t, w[f"tail{i}_in"]), w[f"tail{i}_out"]).float()
            out[:, start:stop].copy_(
                F.log_softmax(tail, dim=1) + head_lp[:, short + i : short + i + 1]
            )
