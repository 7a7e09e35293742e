"""The shape of the code: enforced layers, no import cycles, small modules, declared imports,
sibling modules named apart."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("lightrnn", "storage", "tasks", "flows", "bench")
MAX_LINES = 400


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def test_import_contracts_hold():
    """pyproject.toml's import-linter contracts: the layers, and no cycle inside a package."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_no_module_is_longer_than_400_lines():
    long = {
        str(p.relative_to(REPO)): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by concept: {long}"


def test_every_imported_distribution_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_norm(d) for d in project["dependencies"]}
    providers = metadata.packages_distributions()
    missing = {}
    for path in sources():
        if path.parts[len(REPO.parts)] == "bench":
            continue  # benchmarks may use the dev extras
        for top in _imports(path):
            if top in PACKAGES or top in sys.stdlib_module_names or top == "__future__":
                continue
            dists = {_norm(d) for d in providers.get(top, [top])}
            if not dists & declared:
                missing.setdefault(top, str(path.relative_to(REPO)))
    assert not missing, f"imported but not declared in pyproject.toml dependencies: {missing}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _norm(requirement: str) -> str:
    name = requirement.split(";")[0]
    for sep in ("==", ">=", "<=", "~=", "[", " ", "<", ">"):
        name = name.split(sep)[0]
    return name.strip().lower().replace("_", "-")


def _form(name: str) -> str:
    """A module name without its inflection: train, training, trainer and trains are one form."""
    for suffix in ("ing", "er", "es", "s"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 3:
            return name[: -len(suffix)]
    return name


def test_no_two_sibling_modules_differ_only_by_form():
    """`tasks/train.py` beside `tasks/training.py` made a reader guess which holds what."""
    clashes = []
    for folder in sorted({p.parent for p in sources()}):
        names = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
        names += sorted(d.name for d in folder.iterdir() if (d / "__init__.py").is_file())
        seen: dict[str, str] = {}
        for name in names:
            if _form(name) in seen:
                clashes.append(f"{folder.relative_to(REPO)}: {seen[_form(name)]} / {name}")
            seen.setdefault(_form(name), name)
    assert not clashes, f"rename one of each pair for what it holds: {clashes}"
