"""`lightrnn store ...`: inspect and manage the artifact store.

    lightrnn store init    URL                             make URL a store (once; idempotent)
    lightrnn store ls      URL [PREFIX]                    names, version counts, latest
    lightrnn store log     URL NAME                        every version: meta, lineage, tags,
                                                           retractions
    lightrnn store get     URL NAME [--ref R] [--out DIR]  a verified local copy
    lightrnn store tag     URL NAME REF ALIAS              point an alias (best, stable) at REF
    lightrnn store retract URL NAME REF --reason TEXT      withdraw a bad version from `latest`
    lightrnn store gc      URL --keep-last K [--grace-seconds S] [--pending-ttl-seconds T]
                               [--dry-run]

Every command but `init` refuses a URL that holds no store (a typo must not start a new one);
the default local store is created on first use.

Store errors print as one line, `error: ...`, with exit code 2 and no traceback, as for every
`lightrnn` command (flows/console.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

import storage
from flows.console import one_line_errors, print_table

store_app = typer.Typer(
    help="Create a store; list, inspect, fetch, tag, retract and garbage-collect its artifacts."
)

UrlArg = Annotated[
    str, typer.Argument(help="Store URL: file:///path, s3://bucket/prefix or memory://name.")
]
PLAIN = {"right": False, "lines": False}  # one row per line: easy to grep and awk
NameArg = Annotated[str, typer.Argument(help="Artifact name, e.g. corpus/ab12cd/shards.")]


@store_app.command("init")
@one_line_errors
def init(url: UrlArg) -> None:
    """Make URL a store, so runs and commands can use it; says whether it was already one."""
    outcome = storage.init_store(url)
    where = storage.redact_url(url)
    if outcome == "created":
        typer.echo(f"created store {where}")
    elif outcome == "marked":
        typer.echo(f"found store {where} (made before store.json): marked it")
    else:
        typer.echo(f"found store {where}: nothing to do")


@store_app.command("ls")
@one_line_errors
def ls(
    url: UrlArg,
    prefix: Annotated[str, typer.Argument(help="Only names starting with this.")] = "",
) -> None:
    """List artifact names with their number of versions and the latest (not retracted) one."""
    store = storage.open_store(url)
    rows = []
    for name in store.names(prefix):
        versions = store.versions(name)
        valid = [v for v in versions if not v.retracted]
        if valid:
            last = valid[-1]
            row = [last.label, last.kind, _size(last.size), last.created]
            rows.append([name, str(len(versions)), *row])
        elif versions:
            rows.append([name, str(len(versions)), "-", "all retracted", "-", "-"])
    if not rows:
        typer.echo(f"no artifacts in {store.url}" + (f" under {prefix!r}" if prefix else ""))
        return
    print_table(["NAME", "VERSIONS", "LATEST", "KIND", "SIZE", "CREATED"], rows, **PLAIN)


@store_app.command("log")
@one_line_errors
def log(url: UrlArg, name: NameArg) -> None:
    """Show every version of NAME, oldest first: when, what, tags, lineage and meta; then the
    retracted ones, with when and why."""
    store = storage.open_store(url)
    versions = store.versions(name)
    if not versions:
        store.resolve(name)  # raises the NotFoundError that says what to do
    aliases: dict[int, list[str]] = {}
    for alias, number in store.tags(name).items():
        aliases.setdefault(number, []).append(alias)
    rows = [
        [
            v.label,
            v.created,
            v.kind,
            _size(v.size),
            str(len(v.files)),
            ",".join(aliases.get(v.number, [])) or "-",
            " ".join(v.parents) or "-",
            json.dumps(dict(v.meta), sort_keys=True) if v.meta else "-",
        ]
        for v in versions
    ]
    headers = ["VERSION", "CREATED", "KIND", "SIZE", "FILES", "TAGS", "PARENTS", "META"]
    typer.echo(f"{name} in {store.url}")
    print_table(headers, rows, **PLAIN)
    for v in versions:
        if v.retraction is not None:
            typer.echo(f"retracted {v.label} at {v.retraction.retracted}: {v.retraction.reason}")


@store_app.command("get")
@one_line_errors
def get(
    url: UrlArg,
    name: NameArg,
    ref: Annotated[str, typer.Option(help="Version: latest, 3, v3, or an alias.")] = "latest",
    out: Annotated[
        Path | None, typer.Option(help="Copy into this directory (else print the cache path).")
    ] = None,
) -> None:
    """Fetch a verified copy of a version and print where it is."""
    store = storage.open_store(url)
    version = store.resolve(name, ref)
    path = store.get(name, version.number)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, out, dirs_exist_ok=True, copy_function=shutil.copyfile)
            path = out
        else:
            path = Path(shutil.copyfile(path, out / path.name))
    typer.echo(f"{version.ref} -> {path}")


@store_app.command("tag")
@one_line_errors
def tag(
    url: UrlArg,
    name: NameArg,
    ref: Annotated[str, typer.Argument(help="Version to tag: latest, 3, v3, or an alias.")],
    alias: Annotated[str, typer.Argument(help="Alias to set, e.g. best or stable.")],
) -> None:
    """Point ALIAS of NAME at version REF (aliases move; tagged versions survive gc)."""
    version = storage.open_store(url).tag(name, ref, alias)
    typer.echo(f"{name}:{alias} -> {version.ref}")


@store_app.command("retract")
@one_line_errors
def retract(
    url: UrlArg,
    name: NameArg,
    ref: Annotated[str, typer.Argument(help="Version to withdraw: latest, 3, v3, or an alias.")],
    reason: Annotated[str, typer.Option(help="Why, shown by `store log`.")],
) -> None:
    """Withdraw version REF of NAME: `latest` and resuming skip it; it stays readable by number."""
    version = storage.open_store(url).retract(name, ref, reason)
    retraction = version.retraction or storage.Retraction(reason, "now")  # (always set)
    typer.echo(f"retracted {version.ref} at {retraction.retracted}: {retraction.reason}")


@store_app.command("gc")
@one_line_errors
def gc(
    url: UrlArg,
    keep_last: Annotated[
        int, typer.Option(help="Versions to keep per name (>= 1), retracted ones not counted.")
    ],
    grace_seconds: Annotated[
        float, typer.Option(help="Leave unreferenced objects younger than this.")
    ] = 3600.0,
    pending_ttl_seconds: Annotated[
        float,
        typer.Option(help="Treat a commit marker older than this as a killed writer's."),
    ] = 86400.0,
    dry_run: Annotated[bool, typer.Option(help="List what would go, delete nothing.")] = False,
) -> None:
    """Delete old untagged versions and the objects nothing reaches any more."""
    store = storage.open_store(url)
    report = store.gc(keep_last, grace_seconds, dry_run, pending_ttl_seconds)
    verb = "would delete" if report.dry_run else "deleted"
    for ref in report.deleted_versions:
        typer.echo(f"{verb} {ref}")
    typer.echo(report.summary())


def _size(n: int) -> str:
    """Bytes in the largest binary unit that keeps the number >= 1: '1.5 MiB'."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(n), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{n} B" if unit == 0 else f"{value:.1f} {units[unit]}"
