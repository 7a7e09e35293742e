"""A trained model as stores held it before a run's final model was an export: the training
checkpoint layout, written here file by file (what `lightrnn.checkpoint.save_model` wrote when
final models were copies of the best round's model directory), so the legacy reader is tested
against the old files themselves rather than against whatever the code writes today."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from lightrnn.model import LightRNN
from lightrnn.recurrent import RecurrentLM
from lightrnn.vocab import Vocab

OLD_FINAL_FILES = [
    "optimizer.pt",
    "spec.json",
    "table.npz",
    "tokenizer.json",
    "vocab.arrow",
    "weights.pt",
]


def write_old_final(model: RecurrentLM, vocab: Vocab, tokenizer: dict[str, Any], out: Path) -> Path:
    """`out` holding `model` in the old final layout (OLD_FINAL_FILES for a LightRNN)."""
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, out / "weights.pt")
    (out / "spec.json").write_text(json.dumps(model.spec(), indent=1, sort_keys=True))
    if isinstance(model, LightRNN):
        model.table.save(out / "table.npz")
    vocab.save(str(out / "vocab.arrow"))
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, sort_keys=True))
    torch.save({"optimizer": {"state": {}, "param_groups": []}}, out / "optimizer.pt")
    return out
