"""LightRNN: memory- and computation-efficient recurrent language models (Li et al., NeurIPS 2016).

A plain PyTorch library: no Prefect, no artifact store. See README.md for the model in a paragraph.
"""

import os

# OpenMP threads that spin while they wait make every op of a small model up to ~75x slower
# when another process shares the cores (measured on the 2-core development machine: a training
# step of the demo model took 3.5 s with spinning threads, 0.047 s with passive ones); waiting
# passively costs next to nothing on an idle machine. Only where the user has not chosen, and
# only if this package loads before torch (OpenMP reads the variable once, when torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lightrnn.errors import (
    CheckpointError,
    ConfigError,
    CorpusError,
    DataError,
    LightRNNError,
    TableError,
)
from lightrnn.table import Table, table_shape
from lightrnn.vocab import EOS, UNK, Vocab

# The model's names load torch, so they load on first use: the corpus workers, which import
# this package but never the model, start without paying torch's import.
_LAZY = {
    "LightRNN": "lightrnn.model",
    "LightRNNConfig": "lightrnn.model",
    "LanguageModel": "lightrnn.language_model",
    "TextScore": "lightrnn.language_model",
    "load": "lightrnn.language_model",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lightrnn' has no attribute {name!r}")


__all__ = [
    "EOS",
    "UNK",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "DataError",
    "LanguageModel",
    "LightRNN",
    "LightRNNConfig",
    "LightRNNError",
    "Table",
    "TableError",
    "TextScore",
    "Vocab",
    "load",
    "table_shape",
]
