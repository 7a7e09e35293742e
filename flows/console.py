"""What every `lightrnn` command shares: the console, one error policy, one table printer.

Known failures (bad input, an unreachable store, a busy run: `flows.failures`) print as one line,
`error: ...`, with exit code 2 and no traceback, whichever command raised them, whether before a
flow or inside one (the flow then logged the same line once). Credentials never appear.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from flows.failures import is_known, one_line
from storage.errors import redact

console = Console(soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print `message` as the one-line error; the Exit to raise."""
    typer.secho(f"error: {redact(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def one_line_errors(command: F) -> F:
    """Decorate a command so that expected errors print as one line and exit 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if is_known(exc):
                raise fail(one_line(exc)) from None
            raise

    return run  # type: ignore[return-value]


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
    right: bool = True,
    out: Console | None = None,
    lines: bool = True,
) -> None:
    """A compact table on the terminal; each column as wide as its widest cell (nothing cut).
    `lines=False`: no rules at all, one row per line (for grep and awk)."""
    table = RichTable(
        title=title, box=box.SIMPLE_HEAD if lines else None, pad_edge=False, show_edge=False
    )
    for i, column in enumerate(columns):
        widest = max((len(r[i]) for r in rows), default=1)
        table.add_column(column, justify="right" if right else "left", min_width=widest)
    for cells in rows:
        table.add_row(*cells)
    (out or console).print(table)
