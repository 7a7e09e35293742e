"""What every language model here shares, so LightRNN and its baselines run the same loop.

A model reads a window of ids [B, T] and a recurrent state and returns log P(ids[:, t] | history)
for every position: the first id of the window is predicted from the state carried in (the zero
state at the start of a stream), so every id of a stream is predicted exactly once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from lightrnn.errors import ConfigError, DataError

State = tuple[torch.Tensor, torch.Tensor]  # LSTM (h, c), each [num_layers, B, hidden_dim]


@dataclass
class LMOutput:
    """log_probs [B, T] float32; state to carry into the next window; the loss is its mean NLL."""

    log_probs: torch.Tensor
    state: State

    @property
    def loss(self) -> torch.Tensor:
        return -self.log_probs.mean()


def check_common(
    vocab_size: int, embed_dim: int, hidden_dim: int, num_layers: int, dropout: float
) -> None:
    """Validate the fields every model config shares."""
    if vocab_size < 2:
        raise ConfigError(f"vocab_size={vocab_size}: a language model needs at least 2 words")
    for name, value in (
        ("embed_dim", embed_dim),
        ("hidden_dim", hidden_dim),
        ("num_layers", num_layers),
    ):
        if value < 1:
            raise ConfigError(f"{name}={value}: must be at least 1")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout={dropout}: must be in [0, 1)")


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (tensor cores, cuDNN LSTM in bf16); a no-op on the CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class RecurrentLM(nn.Module):
    """Base class: an LSTM stack under some output layer. Subclasses implement `forward`."""

    vocab_size: int
    lstm: nn.LSTM

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """The zero state: what a stream is read from."""
        device = device if device is not None else self.device
        shape = (self.lstm.num_layers, batch_size, self.lstm.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, state: State | None = None) -> LMOutput:  # [B, T]
        raise NotImplementedError

    def check_ids(self, ids: torch.Tensor) -> None:
        """Raise a DataError for ids that are not a [B, T] integer tensor in the vocabulary."""
        if ids.dim() != 2 or ids.dtype not in (torch.int32, torch.int64):
            raise DataError(
                f"ids must be an integer tensor [batch, time], got {tuple(ids.shape)} {ids.dtype}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise DataError(
                f"token id {int(bad)} is outside the vocabulary [0, {self.vocab_size}): "
                "encode the text with the vocabulary the model was trained on"
            )

    @torch.no_grad()
    def log_prob(self, ids: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """log P(ids[:, t] | ids[:, :t]) [B, T], in eval mode, from the zero state by default."""
        self.check_ids(ids)
        was_training = self.training
        self.eval()
        try:
            return self(ids.to(self.device).long(), state).log_probs
        finally:
            self.train(was_training)

    @staticmethod
    def predicting_states(out: torch.Tensor, state_in: State) -> torch.Tensor:
        """[B, T, H] states that predict each id: the carried-in top-layer h, then out[:, :-1].

        out: [B, T, H] outputs after reading each id; state_in: the state before the window.
        """
        first = state_in[0][-1].to(out.dtype).unsqueeze(1)  # [B, 1, H]
        return torch.cat([first, out[:, :-1]], dim=1)

    def spec(self) -> dict:
        """{"kind", "config"}: enough, with the state dict, to rebuild the model (see build.py)."""
        raise NotImplementedError
