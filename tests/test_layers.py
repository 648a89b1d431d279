"""The house's one-way layers (docs/architecture.md): every import, static or inside a function, read with `ast`.

Fails on an import against the layer order, on an import cycle between modules, on a package without
`__init__.py`, and on an import from a module that defines a blueprint by anything but the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Lowest first; a package may import only from its own rank or lower ones (parents and dashboard share a rank).
LAYERS = {"core": 0, "accounts": 1, "courses": 2, "sessions": 3, "recordings": 4, "activities": 5,
          "parents": 6, "dashboard": 6}
#: The composition root and the commands that wire everything: above every package.
ROOTS = {"core.app", "wsgi", "demo"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        folder = ROOT / package
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    for name in ("wsgi", "demo"):
        found[name] = ROOT / f"{name}.py"
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import names (a module, or the package whose __init__ holds the name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """Every project module `module` imports, at the top or inside a function, and `import_module("...")` calls."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == \
                "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
    found = {_resolve(name) for name in names} - {None, module}
    # "from courses import links" names courses.links; the bare package it passes through is not an import of it
    return {m for m in found if not (MODULES[m].name == "__init__.py" and any(
        n.startswith(m + ".") and _resolve(n) != m for n in names))}


def _package(module: str) -> str:
    return module.split(".")[0]


def layer_breaks() -> list[str]:
    """`a -> b` for every import against the layer order."""
    breaks = []
    for module in MODULES:
        if module in ROOTS:
            continue
        for target in imports_of(module):
            if target in ROOTS or LAYERS.get(_package(target), 0) > LAYERS.get(_package(module), 0):
                breaks.append(f"{module} -> {target}")
    return sorted(breaks)


def cycles() -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    graph = {m: imports_of(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return sorted(found)


def _defines_blueprint(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
               and getattr(node.value.func, "id", getattr(node.value.func, "attr", "")) == "Blueprint"
               for node in tree.body)


def blueprint_modules() -> set[str]:
    """Modules that create a Blueprint at module level (a factory function that returns one does not count)."""
    return {m for m, path in MODULES.items() if _defines_blueprint(path)}


def test_no_import_runs_against_the_layer_order():
    assert layer_breaks() == []


def test_no_import_cycles():
    assert cycles() == []


def test_only_the_composition_root_imports_a_blueprint_module():
    blueprints = blueprint_modules()

    found = sorted(f"{m} -> {t}" for m in MODULES if m not in ROOTS for t in imports_of(m) & blueprints)

    assert found == []


@pytest.mark.parametrize("package", sorted(p for p in LAYERS if (ROOT / p).is_dir()))
def test_every_package_has_an_init(package):
    folders = {p.parent for p in (ROOT / package).rglob("*.py")}

    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists()) == []


def test_the_checks_see_a_break_and_a_cycle(tmp_path, monkeypatch):
    # The reader itself: a module of a low package importing a high one, and two modules importing each other.
    (tmp_path / "core").mkdir()
    (tmp_path / "recordings").mkdir()
    (tmp_path / "core" / "a.py").write_text("def f():\n    from recordings.b import x\n")
    (tmp_path / "recordings" / "b.py").write_text("from core.a import f\nx = 1\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["MODULES"]), "MODULES",
                        {"core.a": tmp_path / "core" / "a.py", "recordings.b": tmp_path / "recordings" / "b.py"})

    assert layer_breaks() == ["core.a -> recordings.b"]
    assert cycles() == [["core.a", "recordings.b"]]
