"""The package's layers, enforced: no module imports from a layer above its own, and no two
modules import each other, directly or round a circle.

Every import counts: at the top of a module, inside a function (deferred for start-up time) and
under ``TYPE_CHECKING``, since each is a dependency a reader and a type checker follow. ``make
lint`` runs this module; a new upward import or cycle fails it with the offending edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "covid_etl"
SOURCE = Path(__file__).parents[1] / "src" / PACKAGE

# The modules directly in the package: what every layer may use, and which use nothing above.
KERNEL = ("errors", "models", "settings", "redact", "log", "cron", "ranges", "catalog")
# Bottom to top. A module may import its own layer and the layers below it, never one above.
# Names are module prefixes: ``covid_etl.store`` is the store package and all its modules.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel", (PACKAGE, *(f"{PACKAGE}.{name}" for name in KERNEL))),
    ("sources", (f"{PACKAGE}.sources",)),
    ("series", (f"{PACKAGE}.series",)),
    ("store", (f"{PACKAGE}.store",)),
    ("publish", (f"{PACKAGE}.publish",)),
    ("notify", (f"{PACKAGE}.notify",)),
    ("monitor", (f"{PACKAGE}.monitor",)),
    ("run", (f"{PACKAGE}.run",)),
    ("web", (f"{PACKAGE}.web",)),
    ("aws", (f"{PACKAGE}.aws",)),
    ("cli", (f"{PACKAGE}.cli",)),
)


def module_name(path: Path, root: Path = SOURCE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path = SOURCE) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The package's modules that ``name`` imports, wherever the import statement stands."""
    known = set(modules)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
            found.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            )
    return {target for target in found if target in known and target != name}


def import_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    modules = package_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer index): the longest prefix wins
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[1]


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    names = [name for name, _ in LAYERS]
    return [
        f"{importer} ({names[layer_of(importer)]}) imports {target} ({names[layer_of(target)]})"
        for importer, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(importer)
    ]


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    for module in package_modules():
        layer_of(module)


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_kernel_imports_nothing_above_it() -> None:
    kernel = {m for m in package_modules() if layer_of(m) == 0}
    graph = import_graph()
    assert {(m, t) for m in kernel for t in graph[m] if t not in kernel} == set()


def test_the_checks_see_deferred_and_type_only_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and one under TYPE_CHECKING are edges
    like any other, and a circle of two modules is found."""
    root = tmp_path / PACKAGE
    (root / "store").mkdir(parents=True)
    (root / "web").mkdir()
    for init in (root, root / "store", root / "web"):
        (init / "__init__.py").write_text("")
    (root / "models.py").write_text("")
    (root / "store" / "sql.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from covid_etl.web.app import App\n"
        "def read():\n    from ..models import Record\n"
    )
    (root / "web" / "app.py").write_text("from covid_etl.store import sql\n")
    graph = import_graph(root)
    assert graph[f"{PACKAGE}.store.sql"] == {f"{PACKAGE}.web.app", f"{PACKAGE}.models"}
    assert upward_imports(graph) == ["covid_etl.store.sql (store) imports covid_etl.web.app (web)"]
    assert cycles(graph) == [[f"{PACKAGE}.store.sql", f"{PACKAGE}.web.app"]]
