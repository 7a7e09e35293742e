"""Corpus preparation: text files -> a vocabulary + Arrow shards of int32 ids (see prepare.py).

config.py    CorpusConfig: how text becomes ids
inputs.py    finding the split files, reading them (any fsspec URL, compressed) in blocks
tokenize.py  the tokenizers (whitespace, raw) and a block's local dictionary
passes.py    the tokenizing pass over every block, in worker processes, in file order
shards.py    writing and reading the int32 shards and the corpus manifest
prepare.py   `prepare`: the two passes end to end, and `load_corpus` to read the result
text.py      reading and encoding any other text as the corpus was (for scoring)
"""

from lightrnn.corpus.config import CorpusConfig
from lightrnn.corpus.inputs import SPLITS, find_splits
from lightrnn.corpus.prepare import PreparedCorpus, load_corpus, prepare
from lightrnn.corpus.shards import ShardInfo, ShardStream, SplitInfo, open_split
from lightrnn.corpus.text import encode_text, read_text

__all__ = [
    "SPLITS",
    "CorpusConfig",
    "PreparedCorpus",
    "ShardInfo",
    "ShardStream",
    "SplitInfo",
    "encode_text",
    "find_splits",
    "load_corpus",
    "open_split",
    "prepare",
    "read_text",
]
