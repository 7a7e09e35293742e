"""check-convergence: stop when the table is stable, validation stalls, or at max rounds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lightrnn.bootstrap import RoundStats, check_convergence
from tasks.settings import PipelineConfig


@task(name="check-convergence", cache_policy=NO_CACHE)  # pure and instant: nothing to retry
def check_convergence_task(
    rounds: list[dict[str, Any]], pipeline: PipelineConfig
) -> dict[str, Any]:
    stats = [
        RoundStats(r["round"], r["valid_ppl"], r.get("moved_fraction"), r.get("objective_gain"))
        for r in rounds
    ]
    decision = check_convergence(
        stats, pipeline.max_rounds, pipeline.moved_threshold, pipeline.min_objective_gain
    )
    return asdict(decision)
