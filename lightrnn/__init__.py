"""LightRNN: memory- and computation-efficient recurrent language models (Li et al., NeurIPS 2016).

A plain PyTorch library: no Prefect, no artifact store. See README.md for the model in a paragraph.
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

__all__ = [
    "EOS",
    "UNK",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "DataError",
    "LightRNNError",
    "Table",
    "TableError",
    "Vocab",
    "table_shape",
]
