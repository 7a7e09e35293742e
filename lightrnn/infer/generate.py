"""Sampling text from a model, word by word, on the streaming scorer.

LightRNN samples the row of the next word, reads it, then samples the column among that row's
words (docs/design.md#sampling); the baselines sample the word. Sampling is Gumbel-max on the
device: no host round trip per word, so it runs inside the scorer's CUDA graphs' rhythm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightrnn.errors import ConfigError
from lightrnn.infer.scorer import StreamConfig, make_scorer
from lightrnn.recurrent import RecurrentLM


def sample(
    log_probs: torch.Tensor, temperature: float, gen: torch.Generator, top_k: int = 0
) -> torch.Tensor:
    """One index per row of [B, N] log-probabilities: tempered, among the `top_k` most likely
    (0: all); temperature 0 takes the most likely."""
    if temperature == 0:
        return log_probs.argmax(dim=1)
    scores = log_probs / temperature
    if 0 < top_k < log_probs.shape[1]:
        kth = scores.topk(top_k, dim=1).values[:, -1:]  # [B, 1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    u = torch.rand(log_probs.shape, generator=gen, device=log_probs.device)
    return (scores - torch.log(-torch.log(u))).argmax(dim=1)


@torch.no_grad()
def generate(
    model: RecurrentLM,
    prompt: Sequence[int] | torch.Tensor,
    n_words: int,
    temperature: float = 1.0,
    seed: int = 0,
    config: StreamConfig | None = None,
    top_k: int = 0,
) -> list[int]:
    """Sample `n_words` word ids after `prompt` (may be empty): reproducible from `seed`."""
    if n_words < 0 or temperature < 0 or top_k < 0:
        raise ConfigError(
            f"n_words={n_words}, temperature={temperature} and top_k={top_k} must be >= 0"
        )
    cfg = config or StreamConfig()
    if cfg.batch_size != 1:
        raise ConfigError(
            f"generate samples one stream: batch_size must be 1, not {cfg.batch_size}"
        )
    scorer = make_scorer(model, cfg)
    prompt = torch.as_tensor(prompt, dtype=torch.long).reshape(1, -1)
    if prompt.shape[1]:
        scorer.score(prompt)
    gen = torch.Generator(device=scorer.device).manual_seed(seed)
    out = torch.empty(n_words, dtype=torch.long, device=scorer.device)
    for t in range(n_words):
        out[t] = scorer.sample_next(lambda lp: sample(lp, temperature, gen, top_k))[0]
    return out.tolist()
