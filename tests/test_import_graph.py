"""The package's imports run one way: compute <- plots and charts <- widgets <- scripts.

Run alone with ``python -m pytest tests/test_import_graph.py -q``. The test reads every
module's source (nothing is imported), collects each ``import gabalab...`` and
``from gabalab... import ...``, and checks three things:

* every import of a ``gabalab`` module sits at the top of its module: no import inside a
  function, where it could hide a cycle;
* no module imports a module of a higher layer (compute modules never import plots, charts,
  widgets, the notebook preamble or the experiment scripts; plots and charts never import
  widgets; ...);
* the module graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gabalab"

#: Layer of each top-level part of the package; everything else is compute (layer 0).
LAYERS = {"plots": 1, "charts": 1, "widgets": 2, "notebook": 2, "experiments": 3}
#: Sibling groups of one layer that must not import each other.
SIBLINGS = {"plots": "charts", "charts": "plots", "widgets": "notebook", "notebook": "widgets"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> list[tuple[str, int, bool]]:
    """``(imported module, line, at top level)`` for every gabalab import of module ``name``."""
    tree = ast.parse(MODULES[name].read_text("utf-8"))
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        for target in targets:
            if target == "gabalab" or target.startswith("gabalab."):
                while target not in MODULES:
                    target = target.rsplit(".", 1)[0]
                out.append((target, node.lineno, id(node) in top))
    return out


def edges() -> dict[str, set[str]]:
    """Module -> modules it imports, with the parent packages an import runs first."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _, _ in imports_of(name):
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                dep = ".".join(parts[:i])
                # A module's own ancestors are imported before it; they are not its imports.
                if dep != name and not name.startswith(dep + "."):
                    graph[name].add(dep)
    return graph


def layer(name: str) -> tuple[int, str]:
    parts = name.split(".")
    group = parts[1] if len(parts) > 1 else ""
    return LAYERS.get(group, 0), group


def test_the_scan_sees_the_package() -> None:
    assert {"gabalab.gaba", "gabalab.data.cmapss", "gabalab.plots.style"} <= set(MODULES)
    # gabalab.gaba is a package: it imports its private modules, which import the rest.
    assert "gabalab.gaba._balancer" in edges()["gabalab.gaba"]
    assert "gabalab.norms" in edges()["gabalab.gaba._balancer"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_gabalab_imports_are_at_module_top(name: str) -> None:
    lazy = [(target, line) for target, line, at_top in imports_of(name) if not at_top]
    assert not lazy, f"{name} imports {lazy} inside a function or block"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_upward_import(name: str) -> None:
    rank, group = layer(name)
    for target in edges()[name]:
        target_rank, target_group = layer(target)
        assert target_rank <= rank, f"{name} (layer {rank}) imports {target} (layer {target_rank})"
        assert SIBLINGS.get(group) != target_group, f"{name} imports its sibling layer {target}"


def test_no_cycle() -> None:
    graph = edges()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
