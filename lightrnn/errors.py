"""The library's domain errors: each message names the input and says how to fix it.

Every error derives from `LightRNNError` (and `ValueError`, since all of them are bad input), so
the CLI can print them without a traceback.
"""


class LightRNNError(ValueError):
    """Base class for every error the library raises on purpose."""


class ConfigError(LightRNNError):
    """A configuration value is out of range or unknown."""


class TableError(LightRNNError):
    """A word -> cell table is not a valid one-to-one allocation of the right size."""


class DataError(LightRNNError):
    """Token ids, streams or batches that cannot be used as given."""


class CorpusError(LightRNNError):
    """A corpus file or directory that cannot be tokenized as given."""


class CheckpointError(LightRNNError):
    """A training state that does not match the model or the data it is loaded into."""


class TrainingError(LightRNNError):
    """Training cannot go on as configured (for example, the loss diverged)."""
