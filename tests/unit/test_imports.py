"""The house's shape: no import circles, and imports run one way between packages.

Every import of the project's own modules is read with ast, function-level ones too (a lazy
import is still a dependency). docs/architecture.md draws the same picture in words.
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
ROOMS = ("training", "serving", "pipeline")
# Lowest first: a package may import only packages before it in its room's list.
LAYERS = {
    "training": ["contract", "model", "workloads", "monitor", "jobs"],
    "pipeline": ["runs", "s3", "api", "registry", "endpoints", "transform", "monitoring",
                 "jobs", "tuning", "workflow"],
}
# The one module every room may use: the model archive, packed and extracted one way.
SHARED = {"training.contract.archive"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for room in ROOMS for path in (REPO / room).rglob("*.py")}


def imports_of(path: Path, modules: dict) -> set[str]:
    """The project modules `path` imports (a name imported from a package that is itself a
    module counts as that module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in ROOMS}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in ROOMS:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def package_of(module: str) -> tuple[str, str | None]:
    """(room, package within the room) of a module; package None for the room's top level."""
    parts = module.split(".")
    return parts[0], parts[1] if len(parts) > 2 or (len(parts) == 2 and
                                                     (REPO / parts[0] / parts[1]).is_dir()) \
        else None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others():
    assert cycles(graph()) == []


def test_no_two_packages_import_each_other():
    packages = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if package_of(module) != package_of(target):
                packages[package_of(module)].add(package_of(target))
    assert cycles(packages) == []


def test_each_room_imports_no_other_room_but_the_shared_archive():
    crossing = sorted(f"{module} -> {target}" for module, targets in graph().items()
                      for target in targets
                      if target.split(".")[0] != module.split(".")[0] and target not in SHARED)
    assert crossing == []


@pytest.mark.parametrize("room", sorted(LAYERS))
def test_packages_import_only_the_packages_below_them(room):
    order = LAYERS[room]
    upward = []
    for module, targets in graph().items():
        room_of, package = package_of(module)
        if room_of != room or package is None:
            continue
        for target in targets:
            target_room, target_package = package_of(target)
            if target_room == room and target_package is not None \
                    and order.index(target_package) > order.index(package):
                upward.append(f"{module} -> {target}")
    assert upward == []


@pytest.mark.parametrize("room", sorted(LAYERS))
def test_every_package_is_in_its_rooms_layer_list_with_a_docstring(room):
    packages = sorted(p.name for p in (REPO / room).iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert sorted(LAYERS[room]) == packages
    for name in packages:
        doc = ast.get_docstring(ast.parse((REPO / room / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{room}/{name}/__init__.py says what it owns"


def test_the_checks_catch_a_circle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
