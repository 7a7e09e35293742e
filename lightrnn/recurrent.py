"""What every language model here shares, so LightRNN and its baselines run the same loop.

A model reads a window of ids [B, T] and a recurrent state and returns log P(ids[:, t] | history)
for every position: the first id of the window is predicted from the state carried in (the zero
state at the start of a stream), so every id of a stream is predicted exactly once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
    vocab_size: int | None, embed_dim: int, hidden_dim: int, num_layers: int, dropout: float
) -> None:
    """Validate the fields every model config shares (vocab_size None: not known yet)."""
    if vocab_size is not None and vocab_size < 2:
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


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode without gradients for the block; its own mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


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

    def log_prob(self, ids: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """log P(ids[:, t] | ids[:, :t]) [B, T], in eval mode, from the zero state by default."""
        self.check_ids(ids)
        with eval_mode(self):
            return self(ids.to(self.device).long(), state).log_probs

    @staticmethod
    def predicting_states(out: torch.Tensor, state_in: State) -> torch.Tensor:
        """[B, T, H] states that predict each id: the carried-in top-layer h, then out[:, :-1].

        out: [B, T, H] outputs after reading each id; state_in: the state before the window.
        """
        first = state_in[0][-1].to(out.dtype).unsqueeze(1)  # [B, 1, H]
        return torch.cat([first, out[:, :-1]], dim=1)

    def spec(self) -> dict:
        """{"kind", "config"}: enough, with the state dict, to rebuild the model (checkpoint.py)."""
        raise NotImplementedError

    def stepper(self, dtype: torch.dtype) -> Stepper:
        """This model one word at a time, on a snapshot of its weights (streaming inference)."""
        raise NotImplementedError


def snapshot(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A detached, contiguous copy in `dtype`: never an alias of a parameter."""
    return t.detach().to(dtype=dtype, copy=True).contiguous()


class Stepper:
    """A model one word at a time, for streaming inference (`lightrnn.infer`).

    It reads only `weights`, a snapshot taken from the model in the compute dtype (matrix
    products in `dtype`, states and softmaxes in float32), and writes its results into buffers
    its caller owns, in place: so a caller may capture a step in a CUDA graph and replay it.
    `refresh()` writes a new snapshot into the same tensors, so captured graphs stay valid.
    """

    def __init__(self, lstm: nn.LSTM, dtype: torch.dtype, gates_outside: bool) -> None:
        self.lstm = LSTMStep(lstm, dtype, gates_outside)
        self.dtype = dtype
        self.weights = self.fresh()

    def fresh(self) -> dict[str, torch.Tensor]:
        """A new snapshot of everything the steps read (subclasses add their own)."""
        return self.lstm.fresh()

    @torch.no_grad()
    def refresh(self) -> None:
        for name, tensor in self.fresh().items():
            self.weights[name].copy_(tensor)

    def sync(self) -> bool:
        """Bring data derived from the model's non-parameter state up to date (LightRNN: a
        swapped table); True when something changed."""
        return False

    def pending(self, top: torch.Tensor, out: torch.Tensor) -> None:
        """The next word's first distribution from the top layer's h [B, H], into `out`."""
        raise NotImplementedError


class LSTMStep:
    """`nn.LSTM` one time step at a time, on a snapshot of its weights (gate order i, f, g, o).

    With `gates_outside`, layer 0's input side is left to the caller, which may precompute the
    gates of a small set of input vectors (LightRNN's R + C row and column vectors).
    """

    def __init__(self, lstm: nn.LSTM, dtype: torch.dtype, gates_outside: bool) -> None:
        if lstm.proj_size or not lstm.bias or lstm.bidirectional or not lstm.batch_first:
            raise ConfigError("streaming needs the models' own LSTM: batch_first, biased, plain")
        self.module, self.dtype, self.gates_outside = lstm, dtype, gates_outside
        self.num_layers = lstm.num_layers
        self.fused = lstm.weight_hh_l0.is_cuda and hasattr(torch, "_thnn_fused_lstm_cell")

    def layer(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w_ih [4H, in], w_hh [4H, H], b_ih + b_hh [4H]) of layer k, live parameters."""
        m = self.module
        w_ih, w_hh = getattr(m, f"weight_ih_l{k}"), getattr(m, f"weight_hh_l{k}")
        return w_ih, w_hh, getattr(m, f"bias_ih_l{k}") + getattr(m, f"bias_hh_l{k}")

    def fresh(self) -> dict[str, torch.Tensor]:
        out, dt = {}, self.dtype
        for k in range(self.num_layers):
            w_ih, w_hh, b = self.layer(k)
            if k > 0 or not self.gates_outside:
                out[f"lstm.w_ih{k}"], out[f"lstm.b{k}"] = snapshot(w_ih, dt), snapshot(b, dt)
            out[f"lstm.w_hh{k}"] = snapshot(w_hh, dt)
        return out

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """Layer 0's input gates of inputs x [N, in], float32 [N, 4H], biases included."""
        w_ih, _, b = self.layer(0)
        return F.linear(x.detach().float(), w_ih.detach().float(), b.detach().float())

    def __call__(
        self, gates_in: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weights: dict
    ) -> torch.Tensor:
        """One step through every layer from layer 0's input gates [B, 4H] (float32); updates
        h, c [L, B, H] in place; returns the top layer's new h [B, H]."""
        dt, x = self.dtype, gates_in
        for k in range(self.num_layers):
            gates_x = gates_in
            if k > 0:
                gates_x = F.linear(x.to(dt), weights[f"lstm.w_ih{k}"], weights[f"lstm.b{k}"])
            gates_h = F.linear(h[k].to(dt), weights[f"lstm.w_hh{k}"]).float()
            h_new, c_new = self._cell(gates_x.float(), gates_h, c[k])
            h[k].copy_(h_new)
            c[k].copy_(c_new)
            x = h_new
        return x

    def _cell(
        self, gates_x: torch.Tensor, gates_h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell's pointwise part: one fused kernel on CUDA."""
        if self.fused:
            h_new, c_new, _ = torch._thnn_fused_lstm_cell(gates_x, gates_h, c)
            return h_new, c_new
        i, f, g, o = (gates_x + gates_h).chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_new), c_new
