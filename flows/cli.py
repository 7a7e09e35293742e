"""The `lightrnn` command: one door to the pipeline, the store and the model.

It turns command-line input into flow parameters and library calls; it holds no logic of its own.
Domain errors (bad input) print as one line, without a traceback.
"""

from __future__ import annotations

import sys

import typer

from flows.store_cli import store_app

app = typer.Typer(
    name="lightrnn",
    help="Train LightRNN language models with Prefect; every artifact versioned in a store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(store_app, name="store")


def main() -> None:
    """Console entry point: run the app, printing expected errors without a traceback."""
    from lightrnn.errors import LightRNNError

    try:
        app()
    except LightRNNError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
