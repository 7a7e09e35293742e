"""Named settings for a pipeline run (`--profile`), and `section.field=value` overrides.

A profile is plain data (JSON-able, so it names the run's artifacts by digest); `resolve` turns
it into the library's validated config objects. Sections: corpus, model, train, costs, allocate,
pipeline.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightrnn.allocate import AllocateConfig
from lightrnn.corpus import CorpusConfig
from lightrnn.costs import CostConfig
from lightrnn.errors import ConfigError
from lightrnn.train import TrainConfig


@dataclass(frozen=True)
class PipelineConfig:
    """The bootstrap loop around the library calls."""

    max_rounds: int = 4
    moved_threshold: float = 0.01  # stop when fewer words than this fraction move
    seed: int = 0  # initial table and model initialisation
    checkpoint_steps: int = 500  # checkpoint training every N steps (0: never by steps)
    checkpoint_minutes: float = 10.0  # ... or every N minutes (0: never by time)

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ConfigError(f"pipeline.max_rounds={self.max_rounds}: must be at least 1")
        if not 0.0 <= self.moved_threshold <= 1.0:
            raise ConfigError(f"pipeline.moved_threshold={self.moved_threshold}: must be in [0, 1]")
        if self.checkpoint_steps < 0 or self.checkpoint_minutes < 0:
            raise ConfigError("pipeline.checkpoint_steps and checkpoint_minutes must be >= 0")


# The model section holds LightRNNConfig fields but vocab_size, which comes from the corpus.
MODEL_FIELDS = ("embed_dim", "hidden_dim", "num_layers", "dropout", "amp")
SECTIONS: dict[str, type] = {
    "corpus": CorpusConfig,
    "train": TrainConfig,
    "costs": CostConfig,
    "allocate": AllocateConfig,
    "pipeline": PipelineConfig,
}

PROFILES: dict[str, dict[str, Any]] = {
    "tiny": {
        "description": "smoke run: seconds on a CPU, a small model, 2 rounds",
        "model": {"embed_dim": 32, "hidden_dim": 32, "num_layers": 1},
        "train": {
            "optimizer": "adam",
            "lr": 0.01,
            "batch_size": 16,
            "bptt": 20,
            "max_steps": 60,
            "eval_every": 30,
            "eval_tokens": 5_000,
            "early_stop_patience": 2,
            "device": "auto",
        },
        "costs": {"batch_size": 32, "max_tokens": 20_000},
        "pipeline": {"max_rounds": 2, "checkpoint_steps": 20},
    },
    "demo": {
        "description": "minutes on a CPU: WikiText-2, 1 x 200 LSTM, up to 4 rounds",
        "model": {"embed_dim": 200, "hidden_dim": 200, "num_layers": 1},
        "train": {
            "optimizer": "adam",
            "lr": 0.003,
            "batch_size": 32,
            "bptt": 35,
            "max_steps": 1200,
            "eval_every": 300,
            "eval_tokens": 40_000,
            "early_stop_patience": 2,
            "lr_decay": 0.5,
        },
        "costs": {"batch_size": 64, "max_tokens": 400_000},
        "pipeline": {"max_rounds": 4, "checkpoint_steps": 300},
    },
    "gpu-medium": {
        "description": "GPU: 2 x 650 LSTM, dropout 0.5, SGD (Zaremba et al. 2014 medium size)",
        "model": {"embed_dim": 650, "hidden_dim": 650, "num_layers": 2, "dropout": 0.5},
        "train": {
            "optimizer": "sgd",
            "lr": 20.0,
            "batch_size": 20,
            "bptt": 35,
            "clip": 0.25,
            "max_steps": 60_000,
            "eval_every": 1_000,
            "early_stop_patience": 4,
            "lr_decay": 0.25,
            "device": "cuda",
        },
        "costs": {"batch_size": 128},
        "pipeline": {"max_rounds": 4, "checkpoint_steps": 2_000},
    },
    "gpu-large": {
        "description": "GPU: 2 x 1500 LSTM, dropout 0.65, SGD (Zaremba et al. 2014 large size)",
        "model": {"embed_dim": 1500, "hidden_dim": 1500, "num_layers": 2, "dropout": 0.65},
        "train": {
            "optimizer": "sgd",
            "lr": 20.0,
            "batch_size": 20,
            "bptt": 35,
            "clip": 0.25,
            "max_steps": 100_000,
            "eval_every": 1_000,
            "early_stop_patience": 4,
            "lr_decay": 0.25,
            "device": "cuda",
        },
        "costs": {"batch_size": 128},
        "pipeline": {"max_rounds": 4, "checkpoint_steps": 2_000},
    },
    "gpu-billion": {
        "description": "GPU: One Billion Word scale, 2 x 1024 LSTM, Adam, batch 128 (paper-sized)",
        "corpus": {"min_count": 3},
        "model": {"embed_dim": 1024, "hidden_dim": 1024, "num_layers": 2, "dropout": 0.1},
        "train": {
            "optimizer": "adam",
            "lr": 0.001,
            "batch_size": 128,
            "bptt": 35,
            "clip": 1.0,
            "max_steps": 300_000,
            "eval_every": 5_000,
            "eval_tokens": 2_000_000,
            "early_stop_patience": 3,
            "lr_decay": 0.5,
            "device": "cuda",
        },
        "costs": {"batch_size": 256, "max_tokens": 100_000_000},
        "allocate": {"method": "auto"},
        "pipeline": {"max_rounds": 4, "checkpoint_steps": 5_000},
    },
}


@dataclass(frozen=True)
class RunSettings:
    """A profile resolved into validated configs (model sizes still lack vocab_size)."""

    profile: str
    model: dict[str, Any]
    corpus: CorpusConfig
    train: TrainConfig
    costs: CostConfig
    allocate: AllocateConfig
    pipeline: PipelineConfig

    def to_dict(self) -> dict[str, Any]:
        """Everything that changes the results, as JSON-able data."""
        out: dict[str, Any] = {"profile": self.profile, "model": dict(self.model)}
        for section in SECTIONS:
            out[section] = dataclasses.asdict(getattr(self, section))
        out["corpus"] = self.corpus.output_settings()  # speed-only fields never name data
        return out

    def digest(self) -> str:
        payload = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(payload).hexdigest()


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """["train.max_steps=200", "model.hidden_dim=512"] -> {"train.max_steps": 200, ...}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(
                f"override {item!r}: write SECTION.FIELD=VALUE, e.g. train.max_steps=200"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word such as adam or cuda
        out[key.strip()] = value
    return out


def resolve(profile: str, overrides: Mapping[str, Any] | None = None) -> RunSettings:
    """The validated settings of `profile` with `overrides` ({"section.field": value}) applied."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    data = copy.deepcopy(PROFILES[profile])
    for key, value in (overrides or {}).items():
        section, _, field = key.partition(".")
        valid = _fields(section)
        if valid is None:
            raise ConfigError(
                f"override {key!r}: unknown section {section!r}; sections are "
                f"model, {', '.join(SECTIONS)}"
            )
        if field not in valid:
            raise ConfigError(
                f"override {key!r}: {section} has no field {field!r}; fields: {', '.join(valid)}"
            )
        data.setdefault(section, {})[field] = value
    configs: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        try:
            configs[section] = cls(**data.get(section, {}))
        except TypeError as exc:
            raise ConfigError(f"profile {profile!r}, section {section}: {exc}") from exc
    return RunSettings(profile=profile, model=dict(data.get("model", {})), **configs)


def _fields(section: str) -> tuple[str, ...] | None:
    if section == "model":
        return MODEL_FIELDS
    cls = SECTIONS.get(section)
    return None if cls is None else tuple(f.name for f in dataclasses.fields(cls))
