"""How long work reports how far it has got: one callback type for every counted pass.

Corpus preparation counts bytes of input, cost accumulation and evaluation count tokens; a
terminal progress bar or a Prefect progress artifact takes any of them. Training reports richer
state (`lightrnn.train.TrainProgress`).
"""

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]  # (done, total): bytes of corpus text, tokens scored


def eta_seconds(step: int, max_steps: int, start_step: int, elapsed_s: float) -> float:
    """Seconds left at the rate of this process: steps done since it started (or resumed at
    `start_step`) over the seconds since then. NaN before any step; 0 once at `max_steps`.

    A resumed run's absolute step would count steps another process did as done here, so an
    ETA from it reads "0 s" right after resuming a long run.
    """
    done = step - start_step
    if step >= max_steps:
        return 0.0
    if done <= 0 or elapsed_s <= 0:
        return float("nan")
    return (max_steps - step) * elapsed_s / done
