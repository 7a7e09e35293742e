"""A run's final model in the store: the best round's model, in the export format.

A round's model keeps the training checkpoint layout and the optimizer state the next round
starts from; the final model is what users load and ship, so it is stored as `lightrnn export`
writes it (safetensors, config.json with the format and every file's sha256, vocabulary,
table) and reads back through the one verified path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import storage
from lightrnn.export import export_dir, read_model
from tasks.refs import Ref


def put_final(store: storage.Store, name: str, best_model: Ref, meta: dict[str, Any]) -> Ref:
    """Commit the round model `best_model` as the export `name` (the same model and meta as a
    version already there: that version, nothing written)."""
    loaded = read_model(store.get(best_model.name, best_model.version), what=str(best_model))
    with tempfile.TemporaryDirectory(prefix="lightrnn-final-") as tmp:
        export_dir(loaded, Path(tmp))
        version = store.put(name, tmp, kind="model", meta=meta, parents=[str(best_model)])
    return Ref.of(version)
