"""A trained model ready to use: `lightrnn.load(...)` -> `LanguageModel` (score, stream, generate).

    lm = lightrnn.load("runs/<run>/final", store="s3://bucket/lightrnn")  # or an export dir
    [s.ppl for s in lm.score(["the cat sat", "on the mat"])]
    lm.generate("the meaning of", max_tokens=20, temperature=0.8, top_k=50, seed=1)

Text is tokenized as the training corpus was (its tokenizer and case), `<eos>` after each line;
words outside the vocabulary read as `<unk>` (as in published perplexities) and are counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightrnn.checkpoint import LoadedModel
from lightrnn.corpus import encode_text
from lightrnn.errors import CheckpointError, CorpusError
from lightrnn.evaluate import token_log_probs
from lightrnn.export import read_model
from lightrnn.infer import StreamConfig, generate, make_scorer
from lightrnn.progress import ProgressFn
from lightrnn.recurrent import RecurrentLM
from lightrnn.train import resolve_device
from lightrnn.vocab import EOS, Vocab


@dataclass(frozen=True)
class TextScore:
    """How likely the model finds one text: natural-log probability of its tokens."""

    text: str
    log_prob: float  # sum over tokens of log P(token | history), from the zero state
    tokens: int  # words and `<eos>`s scored
    unk: int  # tokens outside the vocabulary, scored as `<unk>`

    @property
    def ppl(self) -> float:
        return math.exp(-self.log_prob / self.tokens)


class LanguageModel:
    """A model with its vocabulary and tokenizer: text in, probabilities or text out."""

    def __init__(self, loaded: LoadedModel, device: str = "cpu") -> None:
        self.model: RecurrentLM = loaded.model.to(resolve_device(device)).eval()
        self.vocab: Vocab = loaded.vocab
        self.tokenizer: dict[str, Any] = dict(loaded.tokenizer)

    @property
    def table(self) -> Any:
        """The word -> cell table (LightRNN), None for a baseline."""
        return getattr(self.model, "table", None)

    def encode(self, text: str, ends_line: bool = True) -> np.ndarray:
        """Token ids of `text` (int32); `<eos>` after each line (and after the last with
        `ends_line`)."""
        ids = encode_text(
            text.encode("utf-8"),
            self.vocab,
            self.tokenizer["tokenizer"],
            self.tokenizer["lowercase"],
            ends_line=ends_line,
        )
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by spaces, `<eos>` as a line break."""
        words = self.vocab.decode(ids)
        return " ".join(words).replace(f" {EOS} ", "\n").replace(f" {EOS}", "\n").replace(EOS, "\n")

    def score(
        self, texts: str | Iterable[str], progress: ProgressFn | None = None
    ) -> list[TextScore]:
        """Each text scored on its own, from the zero state (equal to `evaluate` on it)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = []
        for i, text in enumerate(texts):
            ids = self.encode(text)
            if ids.size == 0:
                raise CorpusError(
                    f"text {i + 1} is empty: pass text with at least one word (or a line break)"
                )
            lp = token_log_probs(self.model, ids)
            unk = int((ids == self.vocab.unk_id).sum())
            out.append(TextScore(text, float(lp.sum()), int(ids.size), unk))
            if progress:
                progress(i + 1, len(texts))
        return out

    def stream(self) -> TextStream:
        """Batch-1 streaming scoring for interactive use: feed text as it comes."""
        return TextStream(self)

    def generate(
        self,
        prompt: str = "",
        max_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
    ) -> str:
        """Text after `prompt`, sampled token by token (reproducible from `seed`)."""
        ids = self.encode(prompt, ends_line=False) if prompt.strip() else np.zeros(0, np.int32)
        if prompt.strip() and ids.size and bool((ids == self.vocab.unk_id).all()):
            raise CorpusError(
                f"every word of the prompt {prompt!r} is outside the vocabulary: use words the "
                f"model knows (it has {len(self.vocab):,}; `lightrnn table --word W` checks one)"
            )
        words = generate(
            self.model,
            torch.from_numpy(ids.astype(np.int64)),
            max_tokens,
            temperature=temperature,
            seed=seed,
            top_k=top_k,
        )
        return self.decode(words)


class TextStream:
    """One history, read word by word on the streaming scorer (CUDA graphs on a GPU)."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self.scorer = make_scorer(lm.model, StreamConfig(batch_size=1))

    def feed(self, text: str, ends_line: bool = False) -> list[tuple[str, float]]:
        """(token, log P(token | everything fed so far)) for each token of `text`."""
        ids = self.lm.encode(text, ends_line=ends_line)
        if ids.size == 0:
            return []
        lp = self.scorer.score(torch.from_numpy(ids.astype(np.int64))[None])[0].tolist()
        return list(zip(self.lm.vocab.decode(ids), lp, strict=True))

    def reset(self) -> None:
        self.scorer.reset()


STORE_OPENERS = "lightrnn.stores"  # entry points: name -> callable(url or None) -> store


def load(source: str | Path, store: Any = None, device: str = "cpu") -> LanguageModel:
    """A ready model from a directory (`lightrnn export` output, or a stored model's files), or
    from an artifact store: `source` 'runs/<run>/final[@vN]' and `store` a store URL
    (file://..., s3://...), an open store (anything with `get(name, ref) -> Path`), or None for
    the default local store. Models are in the export format (`lightrnn.export`); a round's
    model, or a final model stored by an older version, is read from the checkpoint layout."""
    path = Path(source)
    if store is None and path.is_dir():
        return LanguageModel(read_model(path), device)
    name, _, version = str(source).partition("@")
    opened = store if hasattr(store, "get") else _open_store(store)
    root = Path(opened.get(name, version or "latest"))
    return LanguageModel(read_model(root, what=f"artifact '{name}'"), device)


def _open_store(url: str | None) -> Any:
    """The store at `url`, opened by the installed store plugin (lightrnn-flow's `storage`)."""
    openers = entry_points(group=STORE_OPENERS)
    if not openers:
        raise CheckpointError(
            "no artifact store is installed to open "
            f"{url or 'the default store'!r}: install lightrnn-flow, or pass a model directory"
        )
    return next(iter(openers)).load()(url)
