"""How long work reports how far it has got: one callback type for every counted pass.

Corpus preparation counts bytes of input, cost accumulation and evaluation count tokens; a
terminal progress bar or a Prefect progress artifact takes any of them. Training reports richer
state (`lightrnn.train.TrainProgress`).
"""

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]  # (done, total): bytes of corpus text, tokens scored
