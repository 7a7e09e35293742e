"""check-convergence: stop when the table is stable, validation stalls, or at max rounds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lightrnn.bootstrap import RoundStats, check_convergence


@task(name="check-convergence", cache_policy=NO_CACHE)  # pure and instant: nothing to retry
def check_convergence_task(
    rounds: list[dict[str, Any]], max_rounds: int, moved_threshold: float
) -> dict[str, Any]:
    stats = [RoundStats(r["round"], r["valid_ppl"], r.get("moved_fraction")) for r in rounds]
    return asdict(check_convergence(stats, max_rounds, moved_threshold))
