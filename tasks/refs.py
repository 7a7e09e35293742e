"""What tasks hand each other: small references to committed artifacts, never tensors.

Plain frozen dataclasses, so Prefect persists them as JSON (no pickle) and a cached result is a
reference the store can still check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.settings import RunSettings


@dataclass(frozen=True)
class Ref:
    """A committed artifact version."""

    name: str
    version: int
    uri: str = ""

    def __str__(self) -> str:
        return f"{self.name}@v{self.version:06d}"

    @classmethod
    def of(cls, version: Any) -> Ref:
        """From a `storage.Version`."""
        return cls(version.name, version.number, version.uri)


@dataclass(frozen=True)
class CorpusInfo:
    ref: Ref
    digest: str  # names everything made from this corpus
    vocab_size: int
    tokens: dict[str, int]  # split -> token count
    tokenizer: dict[str, Any]  # {"tokenizer": name, "lowercase": bool}: how to encode new text


@dataclass(frozen=True)
class ModelInfo:
    """A round's trained model and how its training went."""

    ref: Ref
    steps: int
    stop_reason: str
    train_ppl: float  # training loss of the last reported steps, as a perplexity
    valid_ppl: float  # as measured during training (possibly on a prefix of valid)
    tokens_per_s: float
    seconds: float
    parameters: int
    processes: int = 1  # training processes (the global batch is batch_size x processes)


@dataclass(frozen=True)
class Reallocation:
    table: Ref  # table(k+1)
    costs: Ref  # the cost matrices it was solved from
    report: dict[str, Any] = field(default_factory=dict)  # objectives, words moved, seconds


@dataclass(frozen=True)
class RoundJob:
    """What one bootstrap round works from: its tasks' inputs, and its training processes' job."""

    store_url: str
    run_key: str
    round_index: int
    corpus: CorpusInfo
    table: Ref  # the table this round trains on
    init_model: Ref | None  # the previous round's model, to warm-start from
    settings: RunSettings
