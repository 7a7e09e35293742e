"""Perplexity over a token stream: exp(mean over ids of -log P(id | history)).

Every id of the stream is scored exactly once (the stream is cut into `batch_size` contiguous
segments, each read from the zero state); batch_size=1 scores the stream as one history.
Sums are kept in float64 so millions of tokens add up without drift.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from lightrnn.data import TokenStream, check_ids, eval_windows
from lightrnn.distributed import World
from lightrnn.errors import DataError
from lightrnn.progress import ProgressFn
from lightrnn.recurrent import RecurrentLM, eval_mode


@dataclass(frozen=True)
class EvalResult:
    nll: float  # mean negative log-likelihood, nats per token
    tokens: int
    seconds: float

    @property
    def ppl(self) -> float:
        return math.exp(self.nll)


class Prefix:
    """The first `n` ids of a stream, still sliceable without a copy."""

    def __init__(self, stream: TokenStream, n: int) -> None:
        self.stream, self.n = stream, min(n, len(stream))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.n)
        return self.stream[start:stop]


def device_windows(
    model: RecurrentLM,
    stream: TokenStream,
    batch_size: int,
    bptt: int,
    where: str,
    world: World | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`eval_windows` checked against the vocabulary and moved to the model's device:
    (ids [B, T], mask [B, T]); every id of the stream once (this process's share of the
    segments in a `world`)."""
    device = model.device
    part = world.part() if world is not None else (0, 1)
    for ids, mask in eval_windows(stream, batch_size, bptt, part):
        check_ids(ids.numpy()[mask.numpy()], model.vocab_size, where)
        yield ids.to(device, non_blocking=True), mask.to(device)


def _scored(
    model: RecurrentLM,
    stream: TokenStream,
    batch_size: int,
    bptt: int,
    max_tokens: int | None,
    progress: ProgressFn | None = None,
    world: World | None = None,
    skip_id: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(log_probs float64 [B, T], mask [B, T]) per window, on the model's device, in eval mode;
    with `skip_id`, the mask leaves out the targets equal to it (still read as history)."""
    if max_tokens is not None:
        stream = Prefix(stream, max_tokens)
    state, done = None, 0
    windows = device_windows(model, stream, batch_size, bptt, "evaluation stream", world)
    with eval_mode(model):
        for ids, mask in windows:
            out = model(ids, state)
            state = out.state
            yield out.log_probs.double(), mask if skip_id is None else mask & (ids != skip_id)
            if progress:
                done += int(mask.sum())
                progress(done, len(stream))


def evaluate(
    model: RecurrentLM,
    stream: TokenStream,
    batch_size: int = 10,
    bptt: int = 35,
    max_tokens: int | None = None,
    progress: ProgressFn | None = None,
    world: World | None = None,
    skip_id: int | None = None,
) -> EvalResult:
    """Mean NLL and perplexity of `model` on `stream` (optionally its first `max_tokens` ids);
    in a `world`, each process scores its share of the segments and the sums are added.

    `skip_id` (for example `<unk>` where the training split never holds it, so no model can
    have learned it): targets equal to it are not scored, and `tokens` counts the others."""
    start = time.perf_counter()
    total = torch.zeros((), dtype=torch.float64, device=model.device)
    count = 0
    scored = _scored(model, stream, batch_size, bptt, max_tokens, progress, world, skip_id)
    for log_probs, mask in scored:
        total += log_probs[mask].sum()
        count += int(mask.sum())
    if world is not None:
        total, count = world.sum(torch.stack([total.cpu(), torch.tensor(float(count))]))
        count = int(count)
    if count == 0:  # only possible with skip_id: an empty stream is refused before
        raise DataError(
            f"every target of the evaluation stream is skip_id={skip_id}: nothing is left to "
            "score; evaluate a stream holding other ids, or pass no skip_id"
        )
    return EvalResult(nll=-float(total) / count, tokens=count, seconds=time.perf_counter() - start)


def token_log_probs(
    model: RecurrentLM, stream: TokenStream, batch_size: int = 1, bptt: int = 35
) -> np.ndarray:
    """log P of every id, float64 [N] in stream order (batch_size=1: one unbroken history)."""
    rows: list[list[np.ndarray]] = []
    for log_probs, mask in _scored(model, stream, batch_size, bptt, None):
        lp, m = log_probs.cpu().numpy(), mask.cpu().numpy()
        rows = rows or [[] for _ in range(lp.shape[0])]
        for b in range(lp.shape[0]):
            rows[b].append(lp[b][m[b]])
    return np.concatenate([np.concatenate(r) for r in rows])
