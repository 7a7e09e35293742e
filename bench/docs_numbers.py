"""The docs' measured numbers, generated from bench/results/*.json: none is typed by hand.

Generated text in README.md and docs/*.md sits between HTML comments (invisible on the site):

    <!-- table FILE N -->          block N (0-based; blocks are separated by blank lines) of the
    | ... |                        "markdown" field of bench/results/FILE
    <!-- /table -->

    <!-- fact FILE KEY -->141.3<!-- /fact -->      one figure: KEY among the facts of FILE

A results file's facts are named, formatted figures computed by its benchmark's report
(`facts(saved)` in bench/quality_report.py, bench/throughput_report.py, bench/gcide.py,
bench/loop_report.py, bench/quality_retime.py, bench/optimizer.py):
`--list FILE` prints them. `tests/test_docs.py` fails when a generated region differs from what
its JSON gives now, and when a page that cites results holds a measured figure outside them.

    .venv/bin/python bench/docs_numbers.py            # rewrite every generated region
    .venv/bin/python bench/docs_numbers.py --check    # name each region that differs; exit 1
    .venv/bin/python bench/docs_numbers.py --list quality-cpu.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/docs_numbers.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT

RESULTS = ROOT / "bench" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TABLE = re.compile(r"(<!-- table (\S+\.json) (\d+) -->\n)(.*?)(<!-- /table -->)", re.S)
FACT = re.compile(r"(<!-- fact (\S+\.json) (\S+) -->)(.*?)(<!-- /fact -->)", re.S)


def facts_of(name: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    """The report that names the figures of results file `name`."""
    if name.startswith("quality"):
        from bench.quality_report import facts
    elif name.startswith("throughput"):
        from bench.throughput_report import facts
    elif name.startswith("gcide"):
        from bench.gcide import facts
    elif name.startswith("loop"):
        from bench.loop_report import facts
    elif name.startswith("retime"):
        from bench.quality_retime import facts
    elif name.startswith("optimizer"):
        from bench.optimizer import facts
    else:
        raise SystemExit(f"no facts for {name}: cite its tables (<!-- table {name} N -->)")
    return facts


class Results:
    """Results files read once, their facts computed once."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.facts: dict[str, dict[str, str]] = {}

    def json(self, name: str) -> dict[str, Any]:
        if name not in self.saved:
            path = RESULTS / name
            if not path.is_file():
                raise SystemExit(f"{path} does not exist: run the benchmark that writes it")
            self.saved[name] = json.loads(path.read_text())
        return self.saved[name]

    def block(self, name: str, index: int) -> str:
        blocks = self.json(name)["markdown"].strip().split("\n\n")
        if index >= len(blocks):
            raise SystemExit(f"{name} has {len(blocks)} markdown blocks, not {index + 1}")
        return blocks[index].strip() + "\n"

    def fact(self, name: str, key: str) -> str:
        if name not in self.facts:
            self.facts[name] = facts_of(name)(self.json(name))
        if key not in self.facts[name]:
            raise SystemExit(f"{name} has no fact {key!r}: `bench/docs_numbers.py --list {name}`")
        return self.facts[name][key]


def generate(text: str, results: Results) -> str:
    """`text` with every table and fact region filled from the results files."""
    text = TABLE.sub(lambda m: m[1] + results.block(m[2], int(m[3])) + m[5], text)
    return FACT.sub(lambda m: m[1] + results.fact(m[2], m[3]) + m[5], text)


def refresh(pages: list[Path], results: Results, write: bool) -> list[Path]:
    """The pages whose generated regions differ from their JSON (rewritten when `write`)."""
    stale = []
    for page in pages:
        text = page.read_text()
        fresh = generate(text, results)
        if fresh != text:
            stale.append(page)
            if write:
                page.write_text(fresh)
    return stale


def outside_regions(text: str) -> str:
    """`text` without generated regions, code blocks and inline code: what a person typed."""
    text = TABLE.sub("", FACT.sub("", text))
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    p.add_argument("--list", default="", metavar="FILE", help="print the facts of FILE")
    args = p.parse_args(argv)
    results = Results()
    if args.list:
        for key, value in facts_of(args.list)(results.json(args.list)).items():
            print(f"{key}\t{value}")
        return 0
    stale = [str(p.relative_to(ROOT)) for p in refresh(PAGES, results, write=not args.check)]
    if stale:
        verb = "differ from their JSON" if args.check else "were regenerated"
        print(f"{', '.join(stale)}: generated numbers {verb}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
