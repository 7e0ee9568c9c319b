"""No import cycle inside autonad_core, platform_control or database (issue 13).

Why: a cycle makes import order matter and hides which module owns what. Two graphs are checked, read
with the stdlib `ast` (nothing is imported):
- at run time: imports at module level, with the parent packages that importing a submodule runs;
- in the design: every import statement, also inside functions and `if TYPE_CHECKING:` blocks, with
  only the modules named (a cycle hidden behind a local import is still a cycle in the design: the one
  between autonad_core's search space and its evolution operators was).
A package `__init__` that imports lazily inside a function is the one deliberate back-reference the
run-time graph allows and the design graph does not see (it names no module at module level).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(package: str, *, design: bool = False, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports.

    Run time (default): module-level imports; importing `pkg.sub` also imports `pkg`, so an edge to a
    submodule implies its parent packages, except the importer's own ancestors, which are already being
    imported; `from pkg import x` inside `pkg` counts. Design (`design=True`): every import statement
    anywhere in the file, explicit targets only."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree) if design else tree.body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path.name == "__init__.py", node)
                subs = [f"{base}.{a.name}" for a in node.names]
                targets = [base, *subs] if not design else [s if s in files else base for s in subs]
            for target in targets:
                if target in files and target != module:  # named explicitly, even the own package
                    graph[module].add(target)
                if design:
                    continue
                parent = target.rpartition(".")[0]
                while parent:  # implied parents, except the module's own (already importing)
                    if parent in files and parent != module and not module.startswith(parent + "."):
                        graph[module].add(parent)
                    parent = parent.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}
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

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_design_graph_sees_local_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    graph = import_graph("pkg", design=True, root=tmp_path)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert find_cycle(import_graph("pkg", root=tmp_path)) is None  # at run time the local import waits


@pytest.mark.parametrize("design", [False, True], ids=["run-time", "design"])
@pytest.mark.parametrize("package", ["autonad_core", "platform_control", "database"])
def test_no_import_cycle(package: str, design: bool) -> None:
    graph = import_graph(package, design=design)
    assert len(graph) > 30  # the walk saw the package, not an empty folder
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in {package}: {' -> '.join(cycle or [])}"
