"""Shared pieces of the pipeline tests: a real-corpus slice, store inspection."""

from __future__ import annotations

import lzma
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import storage

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = REPO / "data" / "wikitext-2"
LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")


def tiny_run(corpus: Path, store: str, *settings: str) -> list[str]:
    """The installed `lightrnn run` of the tiny profile, with `--set` for each "section.field=v"."""
    sets = [arg for setting in settings for arg in ("--set", setting)]
    return [LIGHTRNN, "run", "--corpus", str(corpus), "--profile", "tiny", "--store", store, *sets]


def wikitext_slice(root: Path, train_lines: int = 1500, eval_lines: int = 150) -> Path:
    """The first lines of the bundled WikiText-2 splits, as plain files in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train_lines), ("valid", eval_lines), ("test", eval_lines)):
        with lzma.open(WIKITEXT / f"{split}.txt.xz", "rt", encoding="utf-8") as f:
            lines = [next(f) for _ in range(n)]
        (root / f"{split}.txt").write_text("".join(lines), encoding="utf-8")
    return root


def final_weights(store_url: str, run: str) -> dict[str, torch.Tensor]:
    path = storage.open_store(store_url).get(f"runs/{run}/final") / "model.safetensors"
    return load_file(path)


def final_table_bytes(store_url: str, run: str) -> bytes:
    return storage.open_store(store_url).read_bytes(f"runs/{run}/final", "latest", "table.arrow")
