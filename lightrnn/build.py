"""Rebuild a model from its spec ({"kind", "config"}), as stored beside every checkpoint."""

from __future__ import annotations

from typing import Any

from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.errors import CheckpointError
from lightrnn.lm import RecurrentLM
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.table import Table


def build_model(spec: dict[str, Any], table: Table | None = None) -> RecurrentLM:
    """A fresh model of the kind and sizes in `spec` (LightRNN takes its table too)."""
    kind = spec.get("kind")
    config = dict(spec.get("config", {}))
    try:
        if kind == "lightrnn":
            return LightRNN(LightRNNConfig(**config), table)
        if kind == "baseline":
            config["cutoffs"] = tuple(config.get("cutoffs", ()))
            return BaselineLM(BaselineConfig(**config))
    except TypeError as exc:
        raise CheckpointError(f"model spec {spec} does not match this version: {exc}") from exc
    raise CheckpointError(f"unknown model kind {kind!r} in spec: expected 'lightrnn' or 'baseline'")
