"""Streaming inference: one word in, log P(word | history) out; and sampling.

    scorer.py    `make_scorer(model)`: static buffers, CUDA graphs, step / score / feed_row...
    generate.py  `generate(model, prompt, n_words, temperature, seed, top_k)`, `sample`
The per-word math lives with each model: `LightRNN.stepper`, `BaselineLM.stepper`.
"""

from lightrnn.infer.generate import generate, sample
from lightrnn.infer.scorer import (
    BaselineScorer,
    LightRNNScorer,
    StreamConfig,
    StreamingScorer,
    make_scorer,
)

__all__ = [
    "BaselineScorer",
    "LightRNNScorer",
    "StreamConfig",
    "StreamingScorer",
    "generate",
    "make_scorer",
    "sample",
]
