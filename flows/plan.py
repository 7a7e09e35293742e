"""Check a run's parameters before any work: profile, overrides, device, store, corpus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import torch

import storage
from flows.profiles import resolve
from lightrnn.corpus import SPLITS
from lightrnn.errors import ConfigError, CorpusError
from tasks.corpus import check_allowed, conceal, resolve_splits, reveal
from tasks.refs import Ref
from tasks.settings import RunSettings
from tasks.store_task import find

DEMO_CORPUS = str(Path(__file__).resolve().parents[1] / "data" / "wikitext-2")


@dataclass(frozen=True)
class Plan:
    store_url: str
    splits: dict[str, str]
    settings: RunSettings
    warm_start: Ref | None
    warm_start_missing: bool = False  # asked for, but nothing stable committed yet


def plan_run(
    corpus: str,
    store: str | None,
    profile: str,
    max_rounds: int | None,
    overrides: dict[str, Any] | None,
    warm_start: str | None = None,
    splits: dict[str, str] | None = None,
) -> Plan:
    """Validate everything a run needs; raise a clear error naming the input and the fix."""
    extra = dict(overrides or {})
    if max_rounds is not None:
        extra["pipeline.max_rounds"] = max_rounds
    settings = resolve(profile, extra)
    if settings.launch.nnodes > 1 and settings.launch.node_rank != 0:
        raise ConfigError(
            f"launch.nnodes={settings.launch.nnodes}: `lightrnn run` runs on node 0 (set "
            "launch.node_rank=0); on the other machines run `lightrnn node --store URL "
            "--rdzv-endpoint HOST:PORT --node-rank K`"
        )
    device = settings.train.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"profile {profile!r} trains on {device!r} but no CUDA GPU is visible: run it on a "
            "GPU machine, or override with --set train.device=auto"
        )
    found = resolve_splits(corpus, splits)  # credentials concealed (tasks.corpus.conceal)
    check_allowed([reveal(u) for u in found.values()], settings.pipeline.corpus_roots)
    for split in SPLITS:
        if split not in found:
            raise CorpusError(
                f"corpus {conceal(corpus)!r} has no {split} split: pass a {split} file"
            )
    for split, url in found.items():
        fs, path = fsspec.core.url_to_fs(reveal(url))
        if not fs.exists(path):
            raise CorpusError(f"{split} file {url!r} does not exist: check the path or URL")
    store_url = store or storage.default_store_url()
    # Raises for unreachable endpoints, bad credentials, and a URL that holds no store (a typo
    # must not start a new, empty store); the default store is created on first use.
    opened = storage.open_store(store_url)
    ref = find(opened, warm_start) if warm_start else None
    return Plan(store_url, found, settings, ref, bool(warm_start) and ref is None)
