"""A run's settings as one typed object (`RunSettings`): what every task of a run receives.

Each section is the library's own validated config (`LightRNNConfig`, `CorpusConfig`,
`TrainConfig`, ...; the model's vocab_size is filled in from the corpus at build time), or the
pipeline's own (`PipelineConfig`, `LaunchConfig`), so a bad value fails where it is set, naming
the field. `results()` is the part that changes a run's outputs, as JSON: it names the run's
artifacts by digest.
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
class LaunchConfig:
    """Where a round's training processes run (PyTorch's elastic launcher,
    tasks/training/launch.py): not what they compute, so a run resumes under other launch
    settings."""

    nproc: int = 1  # training processes per node (GPUs per machine)
    nnodes: int = 1  # machines
    node_rank: int = -1  # this machine's rank for a static rendezvous; -1: elastic (c10d)
    rdzv_endpoint: str = ""  # host:port of the rendezvous when nnodes > 1
    max_restarts: int = 1  # the launcher restarts every process from the last checkpoint

    def __post_init__(self) -> None:
        check_fields(self, "launch.")
        for name in ("nproc", "nnodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"launch.{name}={getattr(self, name)}: must be at least 1")
        if self.max_restarts < 0:
            raise ConfigError(f"launch.max_restarts={self.max_restarts}: must not be negative")
        if self.nnodes > 1 and ":" not in self.rdzv_endpoint:
            raise ConfigError(
                f"launch.nnodes={self.nnodes} needs launch.rdzv_endpoint=HOST:PORT, an address "
                "every node reaches (node 0's, for a static rendezvous with launch.node_rank)"
            )
        if self.node_rank >= self.nnodes:
            raise ConfigError(
                f"launch.node_rank={self.node_rank}: must be below launch.nnodes={self.nnodes}"
            )

    @property
    def processes(self) -> int:
        """All training processes: the global batch is train.batch_size x processes."""
        return self.nproc * self.nnodes


STARTS = ("random", "cooc")  # pipeline.start: how the bootstrap's first table is made


@dataclass(frozen=True)
class PipelineConfig:
    """The bootstrap loop around the library calls."""

    max_rounds: int = 4
    moved_threshold: float = 0.01  # stable when fewer words than this fraction move ...
    min_objective_gain: float = 0.001  # ... or a reallocation gains less than this fraction
    min_valid_gain: float = 0.01  # stop when a round improves validation perplexity on the best
    #   earlier round by less than this fraction (0: off): the largest value whose stop cost at
    #   most 1% of validation perplexity in the pipeline's measured runs (bench/loop.py;
    #   docs/quality.md#the-pipelines-own-rounds)
    seed: int = 0  # initial table and model initialisation
    start: str = "random"  # the first table: "random" (the paper's) or "cooc" (co-occurrence
    #                        statistics: lightrnn/table_start.py); a warm start wins over both
    carry_optimizer: bool = True  # a round's optimizer, lr schedule and place in the training
    #                               data start where the last round's ended
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
        for name in ("moved_threshold", "min_objective_gain", "min_valid_gain"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"pipeline.{name}={getattr(self, name)}: must be in [0, 1]")
        if self.start not in STARTS:
            raise ConfigError(
                f"pipeline.start={self.start!r}: must be one of {', '.join(STARTS)} "
                "(e.g. pipeline.start=cooc)"
            )
        if self.checkpoint_steps < 0 or self.checkpoint_minutes < 0:
            raise ConfigError("pipeline.checkpoint_steps and checkpoint_minutes must be >= 0")
        if self.lease_seconds < 10 or self.wait_minutes < 0:
            raise ConfigError(
                f"pipeline.lease_seconds={self.lease_seconds} must be >= 10 and "
                f"pipeline.wait_minutes={self.wait_minutes} >= 0"
            )


# What changes a run's outputs; pipeline fields about speed and coordination do not, nor do
# launch settings (where the processes run).
RESULT_FIELDS: dict[str, tuple[str, ...] | None] = {
    "model": None,
    "train": None,
    "costs": None,
    "allocate": None,
    "pipeline": ("seed", "carry_optimizer"),  # max_rounds changes no round: they stay valid
}
SECTIONS: dict[str, type] = {
    "model": LightRNNConfig,
    "corpus": CorpusConfig,
    "train": TrainConfig,
    "costs": CostConfig,
    "allocate": AllocateConfig,
    "pipeline": PipelineConfig,
    "launch": LaunchConfig,
}


@dataclass(frozen=True)
class RunSettings:
    """A profile with its overrides: one validated config per section."""

    profile: str
    model: LightRNNConfig = field(default_factory=LightRNNConfig)  # vocab_size from the corpus
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    costs: CostConfig = field(default_factory=CostConfig)
    allocate: AllocateConfig = field(default_factory=AllocateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    def __post_init__(self) -> None:
        if self.model.vocab_size:
            raise ConfigError(
                f"model.vocab_size={self.model.vocab_size}: the vocabulary size comes from the "
                "corpus (see corpus.min_count, corpus.max_size): leave it at 0"
            )

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
            name, _, entry = name.partition(".")  # allocate.options.tol: one entry of a mapping
            valid = [f.name for f in dataclasses.fields(SECTIONS[section]) if f.init]
            if name not in valid:
                raise ConfigError(
                    f"override {key!r}: {section} has no field {name!r}{_elsewhere(name)}; "
                    f"fields: {', '.join(valid)}"
                )
            ours = changes.setdefault(section, {})
            if entry:
                mapping = ours.get(name, getattr(getattr(self, section), name))
                if not isinstance(mapping, dict):
                    raise ConfigError(
                        f"override {key!r}: {section}.{name} is not a mapping; write "
                        f"{section}.{name}=VALUE"
                    )
                value = {**mapping, entry: value}
            ours[name] = value
        replaced = {s: dataclasses.replace(getattr(self, s), **c) for s, c in changes.items()}
        return dataclasses.replace(self, **replaced)

    def results(self) -> dict[str, Any]:
        """The settings that change a run's results, as JSON-able data (corpus excluded: its
        own digest names it)."""
        out: dict[str, Any] = {}
        for section, fields in RESULT_FIELDS.items():
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: v for k, v in values.items() if fields is None or k in fields}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every section as JSON-able data (for logs, reports and `lightrnn profiles`)."""
        out: dict[str, Any] = {"profile": self.profile}
        for section in SECTIONS:
            out[section] = dataclasses.asdict(getattr(self, section))
        return out


def _elsewhere(name: str) -> str:
    """' (it is launch.nproc)' when another section has the field, else ''."""
    homes = [s for s, c in SECTIONS.items() if name in {f.name for f in dataclasses.fields(c)}]
    return f" (it is {' or '.join(f'{s}.{name}' for s in homes)})" if homes else ""
