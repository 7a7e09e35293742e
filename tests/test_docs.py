"""The documentation site builds with `mkdocs build --strict` (every page in the nav, every link
and anchor resolves), and every pointer from the code into it (`docs/design.md#leases`) lands on
a page and a heading that exist. The Python blocks of README.md and docs/ run as tests of their
own (--markdown-docs in addopts; the root conftest.py sets up what they use)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"
CODE = ["lightrnn", "storage", "tasks", "flows", "bench", "tests"]
POINTER = re.compile(r"docs/([\w-]+)\.md(?:#([\w-]+))?")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_docs_site_builds_strict_with_every_page(site):
    pages = sorted(p.parent.name for p in site.glob("*/index.html"))
    assert pages == sorted(p.stem for p in (REPO / "docs").glob("*.md") if p.stem != "index")
    assert (site / "results" / "ui" / "report.png").is_file()  # docs/results -> bench/results


def code_files() -> list[Path]:
    files = [p for folder in CODE for p in (REPO / folder).rglob("*.py")]
    return [*files, REPO / "pyproject.toml", REPO / "Makefile", REPO / "prefect.yaml"]


def test_every_pointer_from_the_code_lands_on_a_heading(site):
    pointers = {
        (f.relative_to(REPO).as_posix(), page, anchor)
        for f in code_files()
        for page, anchor in POINTER.findall(f.read_text(encoding="utf-8"))
    }
    assert any(page == "design" for _, page, _ in pointers)
    broken = []
    for where, page, anchor in sorted(pointers):
        html = site / ("" if page == "index" else page) / "index.html"
        if not html.is_file() or (anchor and f'id="{anchor}"' not in html.read_text()):
            broken.append(f"{where}: docs/{page}.md#{anchor}")
    assert broken == []


def test_no_citation_of_documents_that_are_not_here():
    cited = [
        f.relative_to(REPO).as_posix()
        for f in [*code_files(), REPO / "README.md", *(REPO / "docs").glob("*.md")]
        if f.name != "test_docs.py"
        and re.search(r"DESIGN section|STYLE\.md", f.read_text(encoding="utf-8"))
    ]
    assert cited == []


MEASURED = re.compile(r"\b\d+\.\d+\b|\b\d+(?:\.\d+)?x\b|\d+(?:\.\d+)?%")
CITING = ["docs/quality.md"]  # pages of measured results: every figure generated


def test_every_generated_figure_equals_what_its_json_gives_now():
    """Tables and single figures between `<!-- table -->` / `<!-- fact -->` markers are
    bench/docs_numbers.py's output for the JSON they name (run it after a benchmark)."""
    sys.path.insert(0, str(REPO))
    from bench.docs_numbers import PAGES, Results, refresh

    stale = refresh(PAGES, Results(), write=False)
    assert not stale, f"run `.venv/bin/python bench/docs_numbers.py`: {stale} differ from JSON"


def test_a_figure_that_differs_from_its_json_is_found(tmp_path):
    sys.path.insert(0, str(REPO))
    from bench.docs_numbers import Results, refresh

    fact = "<!-- fact gcide.json vocab_size -->{}<!-- /fact -->"
    page = tmp_path / "page.md"
    page.write_text("|V| = " + fact.format("89,077") + "\n")
    assert refresh([page], Results(), write=False) == [page]
    assert refresh([page], Results(), write=True) == [page]
    assert page.read_text() == "|V| = " + fact.format("89,078") + "\n"
    assert refresh([page], Results(), write=False) == []


@pytest.mark.parametrize("page", CITING)
def test_no_measured_figure_is_typed_by_hand_on_a_results_page(page):
    sys.path.insert(0, str(REPO))
    from bench.docs_numbers import outside_regions

    typed = MEASURED.findall(outside_regions((REPO / page).read_text()))
    assert not typed, f"{page}: generate these from JSON (<!-- fact FILE KEY -->): {typed}"
