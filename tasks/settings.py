"""A run's settings as one typed object (`RunSettings`): what every task of a run receives.

Each section is the library's own validated config (`CorpusConfig`, `TrainConfig`, ...), so a
bad value fails where it is set, naming the field. `results()` is the part that changes a run's
outputs, as JSON: it names the run's artifacts by digest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lightrnn.allocate import AllocateConfig
from lightrnn.corpus import CorpusConfig
from lightrnn.costs import CostConfig
from lightrnn.errors import ConfigError
from lightrnn.model import LightRNNConfig
from lightrnn.train import TrainConfig
from lightrnn.validation import check_fields


@dataclass(frozen=True)
class ModelSettings:
    """LightRNN's sizes; the vocabulary size comes from the corpus (`config(vocab_size)`)."""

    embed_dim: int = 256  # d: size of each row and column input vector
    hidden_dim: int = 256  # h: LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.0
    amp: bool = True  # bf16 autocast on CUDA
    shortlist: int = 0  # K most frequent words outside the table (the hybrid head)
    tie: bool = False  # input vectors double as output vectors (needs embed_dim == hidden_dim)

    def __post_init__(self) -> None:
        check_fields(self, "model.")
        self.config(self.shortlist + 4)  # the library's own checks, on a stand-in vocabulary

    def config(self, vocab_size: int) -> LightRNNConfig:
        return LightRNNConfig(vocab_size=vocab_size, **dataclasses.asdict(self))


@dataclass(frozen=True)
class PipelineConfig:
    """The bootstrap loop around the library calls."""

    max_rounds: int = 4
    moved_threshold: float = 0.01  # stable when fewer words than this fraction move ...
    min_objective_gain: float = 0.001  # ... or a reallocation gains less than this fraction
    seed: int = 0  # initial table and model initialisation
    carry_optimizer: bool = True  # a round's optimizer and lr schedule start where the last ended
    checkpoint_steps: int = 500  # checkpoint training every N steps (0: never by steps)
    checkpoint_minutes: float = 10.0  # ... or every N minutes (0: never by time)
    lease_seconds: float = 300.0  # a run's lease lapses this long after its last heartbeat
    wait_minutes: float = 0.0  # a second identical run waits this long for the lease, then exits
    corpus_roots: tuple[str, ...] = ()  # corpora must lie under one of these (and the worker's
    #                                     LIGHTRNN_CORPUS_ROOTS); () = anywhere

    def __post_init__(self) -> None:
        check_fields(self, "pipeline.")
        if self.max_rounds < 1:
            raise ConfigError(f"pipeline.max_rounds={self.max_rounds}: must be at least 1")
        for name in ("moved_threshold", "min_objective_gain"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"pipeline.{name}={getattr(self, name)}: must be in [0, 1]")
        if self.checkpoint_steps < 0 or self.checkpoint_minutes < 0:
            raise ConfigError("pipeline.checkpoint_steps and checkpoint_minutes must be >= 0")
        if self.lease_seconds < 10 or self.wait_minutes < 0:
            raise ConfigError(
                f"pipeline.lease_seconds={self.lease_seconds} must be >= 10 and "
                f"pipeline.wait_minutes={self.wait_minutes} >= 0"
            )


# What changes a run's outputs; pipeline fields about speed and coordination do not.
RESULT_FIELDS: dict[str, tuple[str, ...] | None] = {
    "model": None,
    "train": None,
    "costs": None,
    "allocate": None,
    "pipeline": ("seed", "carry_optimizer"),  # max_rounds changes no round: they stay valid
}
# Where and how a run's processes start, not what they compute: a run resumes under others.
LAUNCH_FIELDS = ("nproc", "nnodes", "node_rank", "rdzv_endpoint", "max_restarts")
SECTIONS: dict[str, type] = {
    "model": ModelSettings,
    "corpus": CorpusConfig,
    "train": TrainConfig,
    "costs": CostConfig,
    "allocate": AllocateConfig,
    "pipeline": PipelineConfig,
}


@dataclass(frozen=True)
class RunSettings:
    """A profile with its overrides: one validated config per section."""

    profile: str
    model: ModelSettings = field(default_factory=ModelSettings)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    costs: CostConfig = field(default_factory=CostConfig)
    allocate: AllocateConfig = field(default_factory=AllocateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def with_values(self, values: dict[str, Any]) -> RunSettings:
        """A copy with {"section.field": value} applied; unknown names fail with the valid ones."""
        changes: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            section, _, name = key.partition(".")
            if section not in SECTIONS:
                raise ConfigError(
                    f"override {key!r}: unknown section {section!r}; sections are "
                    f"{', '.join(SECTIONS)}"
                )
            valid = [f.name for f in dataclasses.fields(SECTIONS[section]) if f.init]
            if name not in valid:
                raise ConfigError(
                    f"override {key!r}: {section} has no field {name!r}; fields: {', '.join(valid)}"
                )
            changes.setdefault(section, {})[name] = value
        replaced = {s: dataclasses.replace(getattr(self, s), **c) for s, c in changes.items()}
        return dataclasses.replace(self, **replaced)

    def results(self) -> dict[str, Any]:
        """The settings that change a run's results, as JSON-able data (corpus excluded: its
        own digest names it)."""
        out: dict[str, Any] = {}
        for section, fields in RESULT_FIELDS.items():
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {
                k: v
                for k, v in values.items()
                if (fields is None or k in fields) and k not in LAUNCH_FIELDS
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every section as JSON-able data (for logs, reports and `lightrnn profiles`)."""
        out: dict[str, Any] = {"profile": self.profile}
        for section in SECTIONS:
            out[section] = dataclasses.asdict(getattr(self, section))
        return out
