"""Named settings for a pipeline run (`--profile`), and `section.field=value` overrides.

A profile is a `RunSettings` derived from the library defaults with `dataclasses.replace`; the
GPU profiles are derived from one another, so each states only how it differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from lightrnn.allocate import AllocateConfig
from lightrnn.corpus import CorpusConfig
from lightrnn.costs import CostConfig
from lightrnn.errors import ConfigError
from lightrnn.model import LightRNNConfig
from lightrnn.train import TrainConfig
from tasks.settings import PipelineConfig, RunSettings


@dataclass(frozen=True)
class Profile:
    description: str
    settings: RunSettings


TINY = RunSettings(
    profile="tiny",
    model=LightRNNConfig(embed_dim=32, hidden_dim=32, num_layers=1),
    train=TrainConfig(
        optimizer="adam",
        lr=0.01,
        batch_size=16,
        bptt=20,
        max_steps=60,
        eval_every=30,
        eval_tokens=5_000,
        early_stop_patience=2,
    ),
    costs=CostConfig(batch_size=32, max_tokens=20_000),
    pipeline=PipelineConfig(max_rounds=2, checkpoint_steps=20),
)
DEMO = RunSettings(  # the quality study's winner at a CPU budget (docs/quality.md)
    profile="demo",
    model=LightRNNConfig(embed_dim=200, hidden_dim=200, num_layers=1, shortlist=2000, tie=True),
    train=TrainConfig(
        optimizer="adam",
        lr=0.003,
        batch_size=32,
        bptt=35,
        max_steps=2400,
        eval_every=600,
        eval_tokens=40_000,
        early_stop_patience=3,
        lr_decay=0.5,
    ),
    costs=CostConfig(batch_size=64, max_tokens=400_000),
    # the co-occurrence start: better than the random table at equal time on WikiText-2 and
    # GCIDE (docs/quality.md#the-starting-table)
    pipeline=PipelineConfig(max_rounds=2, checkpoint_steps=600, start="cooc"),
)
GPU_MEDIUM = RunSettings(  # Zaremba et al. 2014, medium
    profile="gpu-medium",
    model=LightRNNConfig(
        embed_dim=650, hidden_dim=650, num_layers=2, dropout=0.5, shortlist=2000, tie=True
    ),
    train=TrainConfig(
        optimizer="sgd",
        lr=20.0,
        batch_size=20,
        bptt=35,
        clip=0.25,
        max_steps=60_000,
        eval_every=1_000,
        early_stop_patience=4,
        lr_decay=0.25,
        device="cuda",
    ),
    costs=CostConfig(batch_size=128),
    pipeline=PipelineConfig(max_rounds=4, checkpoint_steps=2_000),
)
GPU_LARGE = replace(  # Zaremba et al. 2014, large
    GPU_MEDIUM,
    profile="gpu-large",
    model=LightRNNConfig(
        embed_dim=1500, hidden_dim=1500, num_layers=2, dropout=0.65, shortlist=2000, tie=True
    ),
    train=replace(GPU_MEDIUM.train, max_steps=100_000),
)
GPU_BILLION = replace(  # One Billion Word scale, the paper's sizes
    GPU_MEDIUM,
    profile="gpu-billion",
    corpus=CorpusConfig(min_count=3),
    model=LightRNNConfig(
        embed_dim=1024, hidden_dim=1024, num_layers=2, dropout=0.1, shortlist=8000, tie=True
    ),
    train=replace(
        GPU_MEDIUM.train,
        optimizer="adam",
        lr=0.001,
        batch_size=128,
        clip=1.0,
        max_steps=300_000,
        eval_every=5_000,
        eval_tokens=2_000_000,
        early_stop_patience=3,
        lr_decay=0.5,
    ),
    costs=CostConfig(batch_size=256, max_tokens=100_000_000),
    allocate=AllocateConfig(method="auto"),
    pipeline=replace(GPU_MEDIUM.pipeline, checkpoint_steps=5_000),
)

PROFILES: dict[str, Profile] = {
    "tiny": Profile("smoke run: seconds on a CPU, a small model, 2 rounds", TINY),
    "demo": Profile(
        "minutes on a CPU: WikiText-2, 1 x 200 tied LSTM, 2,000-word shortlist, 2 rounds from "
        "a co-occurrence table",
        DEMO,
    ),
    "gpu-medium": Profile(
        "GPU: 2 x 650 LSTM, dropout 0.5, SGD (Zaremba et al. 2014 medium size)", GPU_MEDIUM
    ),
    "gpu-large": Profile(
        "GPU: 2 x 1500 LSTM, dropout 0.65, SGD (Zaremba et al. 2014 large size)", GPU_LARGE
    ),
    "gpu-billion": Profile(
        "GPU: One Billion Word scale, 2 x 1024 LSTM, Adam, batch 128 (paper-sized)", GPU_BILLION
    ),
}


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


def resolve(profile: str, overrides: dict[str, Any] | None = None) -> RunSettings:
    """The validated settings of `profile` with `overrides` ({"section.field": value})."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[profile].settings.with_values(dict(overrides or {}))
