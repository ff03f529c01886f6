"""The driver modules' import graph has no cycle (imports inside functions count; `if
TYPE_CHECKING:` blocks do not), and the core imports no protocol module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_trinity.drivers as drivers_pkg

PACKAGE = "pytest_trinity.drivers"
DIR = Path(drivers_pkg.__file__).parent


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """Every driver module `tree` imports, anywhere but under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            base = node.module if node.level == 0 else f"{PACKAGE}.{node.module}"
            if base in modules:
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def module_graph() -> dict[str, set[str]]:
    paths = {f"{PACKAGE}.{p.stem}": p for p in DIR.glob("*.py") if p.stem != "__init__"}
    modules = set(paths)
    return {name: _imports(ast.parse(path.read_text()), modules) - {name} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)) is not None:
            return cycle
    return None


def test_driver_modules_import_each_other_without_a_cycle() -> None:
    graph = module_graph()
    assert f"{PACKAGE}.core" in graph and f"{PACKAGE}.registry" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_core_and_the_registry_import_no_protocol_module() -> None:
    graph = module_graph()
    protocols = {f"{PACKAGE}.http", f"{PACKAGE}.udp"}
    for low in ("core", "registry", "openplan", "spec", "outcomes", "result", "latency", "codec"):
        assert not graph[f"{PACKAGE}.{low}"] & protocols, low


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
