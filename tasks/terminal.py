"""Progress bars on a terminal for long passes, nothing when piped (no Prefect involved)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from lightrnn.progress import ProgressFn


@contextlib.contextmanager
def terminal_progress(title: str, unit: str = "") -> Iterator[ProgressFn]:
    """A progress bar on a terminal (stderr), nothing when piped: yields a (done, total)
    callback for any counted pass (corpus bytes, tokens scored, texts, files)."""
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(title, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
