"""What bench/throughput.py compares: the Setting of a run, and each model at one vocabulary size.

LightRNN and the full- and adaptive-softmax baselines are the library's own (`build_model` on a
spec); the floor is bench/floor.py. Parameters are counted without allocating them, so that what
cannot fit is known before trying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.common import model_spec
from bench.floor import FloorLM
from lightrnn.baselines import default_cutoffs
from lightrnn.checkpoint import build_model, count_parameters
from lightrnn.recurrent import RecurrentLM
from lightrnn.table import Table, table_shape

MODELS = ("floor", "lightrnn", "hybrid", "adaptive", "full")  # cheapest first
# `hybrid`: LightRNN as every profile trains it, tied, its K most frequent words (`--shortlist`)
# predicted by an ordinary softmax beside the rows.


@dataclass(frozen=True)
class Setting:
    """One configuration for every (model, |V|) of a run."""

    hidden: int = 1024  # LSTM units per layer; the embedding size too
    layers: int = 2
    batch: int = 128
    bptt: int = 35  # words per window (LightRNN and the floor read 2 x bptt LSTM steps)
    steps: int = 20  # timed training steps
    warmup: int = 5  # untimed training steps before them
    infer_words: int = 200  # timed batch-1 words, eager and fast each
    infer_warmup: int = 20
    infer_dtypes: str = "auto,float32"  # fast path: the first is the headline, all are in JSON
    amp: bool = True  # bf16 autocast on CUDA
    lr: float = 1.0  # SGD; the values trained do not matter here, only that they stay finite
    clip: float = 0.25
    shortlist: int = 2000  # the hybrid's K (the demo, small and medium profiles'; large: 8000)
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    profile: bool = False  # add the top operators of a few profiled steps to the JSON


def shortlist(name: str, vocab_size: int, s: Setting) -> int:
    """The hybrid's K at this |V| (the table keeps at least 2 words); 0 for every other model."""
    return min(s.shortlist, vocab_size - 2) if name == "hybrid" else 0


def spec(name: str, vocab_size: int, s: Setting) -> dict[str, Any]:
    """`lightrnn`, `hybrid`, `full` or `adaptive` as the library's model spec (embedding size =
    hidden)."""
    kind = "lightrnn" if name == "hybrid" else name
    out = model_spec(kind, vocab_size, embed=s.hidden, hidden=s.hidden, layers=s.layers, amp=s.amp)
    if name == "hybrid":
        out["config"] |= {"shortlist": shortlist(name, vocab_size, s), "tie": True}
    return out


def build(name: str, vocab_size: int, s: Setting) -> RecurrentLM:
    """The model, on the current default device; LightRNN on a random table."""
    if name == "floor":
        return FloorLM(vocab_size, s.hidden, s.layers, s.amp)
    words = vocab_size - shortlist(name, vocab_size, s)  # the table's words
    table = Table.random(words, seed=s.seed) if name in ("lightrnn", "hybrid") else None
    return build_model(spec(name, vocab_size, s), table)


def parameters(name: str, vocab_size: int, s: Setting) -> int:
    """The model's parameter count, without allocating them."""
    if name == "floor":
        with torch.device("meta"):
            return build(name, vocab_size, s).num_parameters()
    return count_parameters(spec(name, vocab_size, s))


def estimate_gib(name: str, vocab_size: int, s: Setting, device: torch.device) -> float:
    """A rough peak for a training step: parameters and gradients (SGD keeps no state), the
    output layer's logits (~10 bytes each on CUDA with bf16, ~12 on the CPU), LSTM activations.
    Calibrated on a 47.6 GiB peak measured for the full softmax at |V| = 793k
    (docs/quality.md#speed)."""
    steps = s.batch * s.bptt * (1 if name in ("full", "adaptive") else 2)
    if name == "full":
        logits = s.batch * s.bptt * vocab_size
    elif name in ("lightrnn", "hybrid"):
        k = shortlist(name, vocab_size, s)
        logits = s.batch * s.bptt * (k + sum(table_shape(vocab_size - k)))
    elif name == "adaptive":
        logits = s.batch * s.bptt * (default_cutoffs(vocab_size)[0] + 4)
    else:
        logits = 0
    per_logit = 10 if device.type == "cuda" else 12
    lstm = steps * s.hidden * s.layers * 40
    return (8 * parameters(name, vocab_size, s) + per_logit * logits + lstm) / 2**30 + 0.5
