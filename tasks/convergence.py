"""check-convergence: stop when the table is stable, validation stalls, or at max rounds."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from lightrnn.bootstrap import Decision, check_convergence
from tasks.rounds import RoundResult
from tasks.settings import PipelineConfig


@task(name="check-convergence", cache_policy=NO_CACHE)  # pure and instant: nothing to retry
def check_convergence_task(rounds: list[RoundResult], pipeline: PipelineConfig) -> Decision:
    """Whether to train another round, and which round so far is the best."""
    return check_convergence(
        [r.stats() for r in rounds],
        pipeline.max_rounds,
        pipeline.moved_threshold,
        pipeline.min_objective_gain,
        pipeline.min_valid_gain,
    )
