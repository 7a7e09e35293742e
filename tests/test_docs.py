"""The documentation site builds with `mkdocs build --strict`: every page in the nav, every link
and anchor resolves. (Its Python blocks run as tests of their own: --markdown-docs in addopts.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


def test_the_docs_site_builds_strict(tmp_path):
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = sorted(p.parent.name for p in (tmp_path / "site").glob("*/index.html"))
    expected = sorted(p.stem for p in (REPO / "docs").glob("*.md") if p.stem != "index")
    assert pages == expected
    assert (tmp_path / "site" / "results" / "ui" / "report.png").is_file()
