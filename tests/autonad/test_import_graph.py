"""autonad_core's layout: no import cycle between its modules, and no module left at a pre-move path.

The import graph is read with the stdlib ``ast`` from every ``import``/``from`` statement in a file,
including those inside functions and ``if TYPE_CHECKING:`` blocks: a cycle hidden behind a local import
is still a cycle in the design (the one between the search space and the evolution operators was).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file for every ``*.py`` under the package folder ``root``."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Edges module -> modules of the same package it imports (explicitly; parents are not added)."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_autonad_core_has_no_import_cycle(repo_root: Path) -> None:
    graph = import_graph(repo_root / "autonad_core")
    assert len(graph) > 40  # the walk saw the package, not an empty folder
    assert "autonad_core.models.search_space" in graph["autonad_core.search.operators"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_cycle_finder_sees_cycles_through_local_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (pkg / "sub" / "b.py").write_text("X = 1\n")
    assert find_cycle(import_graph(pkg)) is None


MOVED = {
    **{m: "models" for m in ("arch", "search_space", "space_config", "blocks", "supernet", "mfam")},
    **{m: "models" for m in ("subnet", "subnet_mfam", "complexity")},
    "evolution_ops": "search/operators",
    "retrain": "training",
    **{m: "deploy" for m in ("export", "predict", "inference")},
}


@pytest.mark.parametrize(("old", "home"), sorted(MOVED.items()))
def test_no_module_left_at_a_pre_move_path(old: str, home: str, repo_root: Path) -> None:
    """No shim stays behind: the old file is gone and nothing in the package names the old path."""
    package = repo_root / "autonad_core"
    assert not (package / f"{old}.py").exists()
    assert (package / home / f"{old}.py").exists() or (package / f"{home}.py").exists()
    stale = [
        str(path.relative_to(repo_root))
        for path in package.rglob("*.py")
        if f"autonad_core.{old} " in path.read_text() or f"autonad_core.{old}\n" in path.read_text()
    ]
    assert stale == []
