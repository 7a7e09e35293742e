"""What happened, where the user looks: the flow run they started, not only a nested one.

Prefect keeps a subflow's logs (a bootstrap round's) and its tasks' logs with that subflow's
run, so `prefect flow-run logs RUN` of the run the user triggered would not show that round 3
resumed from a checkpoint or found its model in the store. `tell` logs such a line where it
happens and, when that is inside a nested run, in the top-level flow run's log too.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

NOTABLE = (
    "resuming round ",
    "skipping checkpoint ",
    "no valid checkpoint ",
    "learning curves ",
)  # how the lines that say what happened begin (also when they come from a worker process)
PARENT_LOGGER = "prefect.flow_runs.top"

Log = logging.Logger | logging.LoggerAdapter


def is_notable(line: str) -> bool:
    """A line saying what happened (a resume, a skipped checkpoint), even as '[rank 0] ...'."""
    text = line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
    return text.startswith(NOTABLE)


@functools.lru_cache(maxsize=64)
def _root_of(flow_run_id: str) -> str:
    from prefect.runtime import flow_run

    return str(flow_run.root_flow_run_id)


def top_logger() -> logging.LoggerAdapter | None:
    """A logger writing to the top-level flow run's log, or None outside a nested run."""
    from prefect.logging.loggers import PrefectLogAdapter
    from prefect.runtime import flow_run

    current = flow_run.id
    if current is None:
        return None
    try:
        root = _root_of(str(current))
    except Exception:  # no API to ask: the line stays where it was logged
        return None
    if root == str(current):
        return None
    logger = logging.getLogger(PARENT_LOGGER)
    if not logger.handlers:  # the API only: the console already shows the nested run's line
        logger.handlers = list(logging.getLogger("prefect.flow_runs").handlers)
        logger.propagate = False
    return PrefectLogAdapter(logger, extra={"flow_run_id": root, "flow_run_name": "top"})


def tell(log: Log, message: str, *args: Any, level: int = logging.INFO) -> None:
    """Log `message` on `log` and, inside a nested flow run, in the top-level run's log."""
    log.log(level, message, *args)
    top = top_logger()
    if top is not None:
        top.log(level, message, *args)
