"""Known failures end a run as one line: its state message and one ERROR log line, no traceback.

A known failure is bad input or an unavailable service, not a bug: a `LightRNNError`
(configuration, corpus, table, checkpoint, divergence) or a `StoreError` (store, credential,
lease, outage). Its message already names the input and the fix, so a traceback only buries it.

Prefect logs a failing run several times over (the task's "Task run failed" with its traceback and
"Finished in state Failed(...)", the flow's "Encountered exception during execution" with the
traceback again). Two pieces turn that into one line:

- `one_line_failures` wraps a flow: a known failure logs its message once at ERROR (the traceback
  at DEBUG) and ends the run `Failed` with the message as its state message; calling the flow
  directly still raises the original exception.
- `QuietKnownFailures` filters Prefect's run loggers: a record about a known failure (one that
  carries it as exc_info, or a task's "Finished in state Failed(...)" naming it) drops to DEBUG,
  traceback and all, so it is only seen when DEBUG logging is on.

Unexpected errors keep Prefect's behaviour, traceback included.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from storage.errors import StoreError, redact

F = TypeVar("F", bound=Callable[..., Any])
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# The state message Prefect builds from an exception: "... exception <TypeName>: <message>".
_FAILED_WITH = re.compile(r"^Finished in state Failed\(.*?exception (\w+): ", re.DOTALL)


def known_types() -> tuple[type[Exception], ...]:
    """The error types that mean bad input or an unavailable service (imported late: the store's
    command line never loads the model library)."""
    from lightrnn.errors import LightRNNError

    return (LightRNNError, StoreError)


def is_known(exc: BaseException | None) -> bool:
    """Whether `exc` is a known failure: one line says it all."""
    return isinstance(exc, known_types())


def one_line(exc: BaseException) -> str:
    """The message of a known failure, as one line with any credential redacted."""
    return " ".join(redact(str(exc)).split())


def _known_names() -> frozenset[str]:
    names: set[str] = set()
    todo: list[type] = list(known_types())
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names)


class QuietKnownFailures(logging.Filter):
    """Demote Prefect's records about a known failure to DEBUG (or drop them when DEBUG is off)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or not self._about_known_failure(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    @staticmethod
    def _about_known_failure(record: logging.LogRecord) -> bool:
        if record.exc_info and is_known(record.exc_info[1]):
            return True
        found = _FAILED_WITH.match(record.getMessage())
        return bool(found) and found.group(1) in _known_names()


_FILTER = QuietKnownFailures()


def quiet_known_failures() -> None:
    """Install the filter on Prefect's flow-run and task-run loggers (once per process)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def one_line_failures(flow_fn: F) -> F:
    """Wrap a flow function so that a known failure ends its run as one line (see above)."""
    quiet_known_failures()

    @functools.wraps(flow_fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return flow_fn(*args, **kwargs)
        except Exception as exc:
            if not is_known(exc):
                raise
            from prefect import get_run_logger
            from prefect.states import Failed

            logger = get_run_logger()
            message = one_line(exc)
            logger.error(message)
            logger.debug("%s, raised here:", type(exc).__name__, exc_info=exc)
            return Failed(message=message, data=exc)

    return run  # type: ignore[return-value]
