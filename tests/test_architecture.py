"""The package's import graph: each package imports only packages below it, and no module of
`pytest_trinity/` is in an import circle (imports inside functions count; imports under
`if TYPE_CHECKING:` do not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_trinity"

# Bottom first. A package may import its own layer's modules only within itself, and anything below.
LAYERS = (
    ("tomlschema", "oslimits"),
    ("plan",),
    ("model",),
    ("targets", "drivers", "services"),
    ("telemetry", "verdict", "reference", "cloud"),
    ("results",),
    ("runner",),
    ("hookspecs",),
    ("plugin",),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
# Judging and reporting read the record model, never the machinery that measured it.
READ_ONLY_THE_MODEL = {"verdict": ("drivers", "telemetry", "reference", "cloud"), "results": ("drivers", "telemetry", "reference", "cloud")}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("pytest_trinity"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pytest_trinity"))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


MODULES = _modules()
GRAPH = {m: _imports(p, MODULES) for m, p in MODULES.items()}


def test_every_package_has_a_layer() -> None:
    assert {_package(m) for m in MODULES} - {"<root>"} <= set(LAYER)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _package(m) != "<root>"))
def test_no_package_imports_one_above_it(module: str) -> None:
    mine = LAYER[_package(module)]
    above = sorted(i for i in GRAPH[module] if _package(i) != "<root>" and LAYER[_package(i)] > mine)
    assert not above, f"{module} (layer {mine}) imports {above}, which sit above it"


@pytest.mark.parametrize("package", sorted(READ_ONLY_THE_MODEL))
def test_judging_and_reporting_read_only_the_model(package: str) -> None:
    banned = READ_ONLY_THE_MODEL[package]
    found = sorted(f"{m} -> {i}" for m in MODULES if _package(m) == package for i in GRAPH[m] if _package(i) in banned)
    assert not found, found


def test_no_import_circle_among_modules() -> None:
    # A package's __init__ re-exporting its own modules is not a circle with them.
    edges = {m: {i for i in deps if i in MODULES and i != m and not (m.startswith(i + ".") and MODULES[i].name == "__init__.py")}
             for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)
