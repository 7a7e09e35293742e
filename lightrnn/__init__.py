"""LightRNN: memory- and computation-efficient recurrent language models (Li et al., NeurIPS 2016).

A plain PyTorch library: no Prefect, no artifact store. See docs/design.md#the-model.
"""

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
