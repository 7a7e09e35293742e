"""Reading and writing the pipeline's artifacts (models, tables, checkpoints) through the store.

A model artifact is self-contained: `weights.pt` (a state dict: tensors only, loaded with
weights_only=True), `spec.json` (kind and sizes), `table.npz` and `vocab.arrow`, so
`lightrnn evaluate` needs nothing else.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import storage
from lightrnn.checkpoint import build_model
from lightrnn.errors import CheckpointError
from lightrnn.lm import RecurrentLM
from lightrnn.model import LightRNN
from lightrnn.table import Table
from lightrnn.vocab import Vocab
from tasks.common import Ref


def load_tensors(path: Path) -> Any:
    """torch.load restricted to tensors and plain containers: nothing is unpickled."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"'{path}' is not a tensor file this version can read: {exc}"
        ) from exc


def tensors_to_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def put_table(
    store: storage.Store, name: str, table: Table, meta: dict[str, Any], parents: Sequence[str]
) -> Ref:
    return Ref.of(
        store.put_bytes(
            name, "table.npz", table.to_bytes(), meta=meta, parents=list(parents), kind="table"
        )
    )


def get_table(store: storage.Store, ref: Ref) -> Table:
    data = store.read_bytes(ref.name, ref.version, "table.npz")
    return Table.from_bytes(data, source=str(ref))


def put_model(
    store: storage.Store,
    name: str,
    model: RecurrentLM,
    vocab_path: Path,
    tokenizer: dict[str, Any],
    meta: dict[str, Any],
    parents: Sequence[str],
) -> Ref:
    with tempfile.TemporaryDirectory(prefix="lightrnn-model-") as tmp:
        out = Path(tmp)
        torch.save(model.state_dict(), out / "weights.pt")
        (out / "spec.json").write_text(json.dumps(model.spec(), indent=1, sort_keys=True))
        if isinstance(model, LightRNN):
            model.table.save(out / "table.npz")
        shutil.copyfile(vocab_path, out / "vocab.arrow")
        (out / "tokenizer.json").write_text(json.dumps(tokenizer, sort_keys=True))
        return Ref.of(store.put(name, out, meta=meta, parents=list(parents), kind="model"))


def get_model(store: storage.Store, ref: Ref | str) -> tuple[RecurrentLM, Vocab, dict[str, Any]]:
    """A stored model (on the CPU), its vocabulary and tokenizer. `ref`: Ref or 'NAME[@VERSION]'."""
    name, version = (ref.name, ref.version) if isinstance(ref, Ref) else _split(ref)
    root = store.get(name, version)
    missing = [f for f in ("weights.pt", "spec.json", "vocab.arrow") if not (root / f).is_file()]
    if missing:
        raise CheckpointError(
            f"artifact '{name}' is not a model (missing {', '.join(missing)}): pass the name of "
            "a model artifact, e.g. runs/<run>/final (see `lightrnn store ls`)"
        )
    spec = json.loads((root / "spec.json").read_text())
    table = Table.load(root / "table.npz") if (root / "table.npz").is_file() else None
    model = build_model(spec, table)
    model.load_state_dict(load_tensors(root / "weights.pt"))
    tokenizer = {"tokenizer": "whitespace", "lowercase": False}
    if (root / "tokenizer.json").is_file():
        tokenizer = json.loads((root / "tokenizer.json").read_text())
    return model.eval(), Vocab.load(str(root / "vocab.arrow")), tokenizer


def _split(ref: str) -> tuple[str, str | int]:
    name, _, version = ref.partition("@")
    return name, (version or "latest")
