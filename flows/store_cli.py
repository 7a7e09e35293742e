"""`lightrnn store ...`: inspect and manage the artifact store."""

import typer

store_app = typer.Typer(help="List, inspect, fetch, tag and garbage-collect stored artifacts.")
