"""Models and training states on disk: the one place that knows the file layout.

A model directory is self-contained, so a model can be scored, inspected or exported with
nothing else at hand:

    weights.pt       the state dict: tensors only, read back with torch.load(weights_only=True)
    spec.json        {"kind", "config"}: enough to rebuild the module (`build_model`)
    table.npz        LightRNN only: the word -> cell allocation it was trained with
    vocab.arrow      the vocabulary (token, count, id)
    tokenizer.json   {"tokenizer", "lowercase"}: how to encode new text as the corpus was

A training state (`Trainer.state_dict()`) is one tensor file, `trainer.pt`. Nothing is ever
unpickled: every read goes through `load_tensors`.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.errors import CheckpointError
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.recurrent import RecurrentLM
from lightrnn.table import Table
from lightrnn.vocab import Vocab

WEIGHTS = "weights.pt"
SPEC = "spec.json"
TABLE = "table.npz"
VOCAB = "vocab.arrow"
TOKENIZER = "tokenizer.json"
TRAINER_STATE = "trainer.pt"
OPTIMIZER_STATE = "optimizer.pt"  # beside a round's model: where the next round's optimizer starts
DEFAULT_TOKENIZER = {"tokenizer": "whitespace", "lowercase": False}


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


def load_tensors(source: Path | bytes) -> Any:
    """torch.load restricted to tensors and plain containers: nothing is unpickled."""
    where = "tensor bytes" if isinstance(source, bytes) else f"'{source}'"
    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else source
        return torch.load(data, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{where} is not a tensor file this version can read: {exc}") from exc


def tensors_to_bytes(obj: Any) -> bytes:
    """Serialise tensors and plain containers (what `load_tensors` reads back)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score text: the module (eval mode, CPU), its vocabulary and tokenizer."""

    model: RecurrentLM
    vocab: Vocab
    tokenizer: dict[str, Any]  # {"tokenizer": name, "lowercase": bool}


def save_model(
    model: RecurrentLM, out_dir: Path, vocab: Vocab | Path, tokenizer: dict[str, Any]
) -> Path:
    """Write `model` in the layout above into `out_dir` (created); returns `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, out_dir / WEIGHTS)
    (out_dir / SPEC).write_text(json.dumps(model.spec(), indent=1, sort_keys=True))
    if isinstance(model, LightRNN):
        model.table.save(out_dir / TABLE)
    if isinstance(vocab, Vocab):
        vocab.save(str(out_dir / VOCAB))
    else:
        shutil.copyfile(vocab, out_dir / VOCAB)
    (out_dir / TOKENIZER).write_text(json.dumps(tokenizer, sort_keys=True))
    return out_dir


def load_model(model_dir: Path, what: str = "") -> LoadedModel:
    """Read a directory written by `save_model`; `what` names it in errors (a store ref...)."""
    what = what or f"'{model_dir}'"
    missing = [f for f in (WEIGHTS, SPEC, VOCAB) if not (model_dir / f).is_file()]
    if missing:
        raise CheckpointError(
            f"{what} is not a model (missing {', '.join(missing)}): pass a model artifact such "
            "as runs/<run>/final (see `lightrnn store ls`) or a directory from `lightrnn export`"
        )
    spec = json.loads((model_dir / SPEC).read_text())
    table = Table.load(model_dir / TABLE) if (model_dir / TABLE).is_file() else None
    model = build_model(spec, table)
    model.load_state_dict(load_tensors(model_dir / WEIGHTS))
    tokenizer = dict(DEFAULT_TOKENIZER)
    if (model_dir / TOKENIZER).is_file():
        tokenizer = json.loads((model_dir / TOKENIZER).read_text())
    return LoadedModel(model.eval(), Vocab.load(str(model_dir / VOCAB)), tokenizer)


def count_parameters(spec: dict[str, Any]) -> int:
    """Parameters of the model `spec` describes, counted without allocating them."""
    with torch.device("meta"):
        return build_model(spec).num_parameters()


def full_softmax_spec(config: LightRNNConfig) -> dict[str, Any]:
    """The full-softmax LSTM of the same sizes as a LightRNN: what it is compared with."""
    sizes = {k: getattr(config, k) for k in ("vocab_size", "embed_dim", "hidden_dim", "num_layers")}
    return {"kind": "baseline", "config": {**sizes, "softmax": "full"}}
