"""The layout holds: no import cycle between camkit's modules, and the core depends on nothing around it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "camkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """camkit modules ``path`` imports anywhere (inside functions too), with the subpackage
    ``__init__`` an import of another subpackage's module runs first."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "camkit" or not target.startswith("camkit."):
                continue  # the top-level package only re-exports
            found.add(target)
            parts = target.split(".")
            for depth in range(2, len(parts)):  # parent subpackages outside our own run first
                parent = ".".join(parts[:depth])
                if not name.startswith(parent):
                    found.add(parent)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "camkit.core.base" in graph["camkit.core.grad_cam"]
    assert "camkit.zoo.shapes" in graph["camkit.zoo.architectures"]
    assert {"camkit.evaluation.scoring", "camkit.evaluation"} <= graph["camkit.zoo.training"]


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target] if target in path else [module, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("layer, forbidden", [
    ("camkit.core", ("camkit.zoo", "camkit.evaluation", "camkit.apps", "camkit.image")),
    ("camkit.image", ("camkit.zoo", "camkit.evaluation", "camkit.apps")),
    ("camkit.zoo", ("camkit.apps",)),
    ("camkit.evaluation", ("camkit.zoo", "camkit.apps")),
])
def test_dependencies_point_inwards(layer, forbidden):
    for module, targets in import_graph().items():
        if module.startswith(layer):
            bad = sorted(t for t in targets if t.startswith(forbidden))
            assert not bad, f"{module} imports {bad}"
