"""The package's folders show the data flow, and the imports follow it.

``formats`` (the pure core) -> ``api`` (the client) -> ``store`` -> ``sync`` (which
writes into the store) -> ``handoff``; ``match`` reads the store beside them; with ``cli``
and ``mock`` at the edges: no module
imports a layer to its right, and no import cycle exists, whether the import sits at module
level, in a function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "toefl_access"
# What each layer may import from the package (besides itself and the top-level modules).
ALLOWED = {
    "formats": set(),
    "api": {"formats"},
    "store": {"formats", "api"},
    "sync": {"formats", "api", "store"},
    "handoff": {"formats", "api", "store", "sync"},
    "mock": {"formats", "api"},
    "ops": {"formats", "api", "store", "sync"},
    "web": {"formats", "api", "store", "sync", "handoff", "ops"},
    "match": {"formats", "api", "store", "handoff"},
    "cli": {"formats", "api", "store", "sync", "handoff", "mock", "ops", "web", "match"},
    "dlt": {"formats", "api", "store", "sync"},
}
TOP = {"errors", "settings", "_version", "__init__", "__main__"}


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return found


def imports() -> dict[str, set[str]]:
    """Every module's imports of other modules of the package."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                graph[name].update(m for m in (subs or [target]) if m in mods and m != name)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in mods)
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_sits_in_a_layer() -> None:
    flat = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in TOP)
    assert flat == [], f"modules outside the layer folders: {flat}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        ALLOWED)


def test_imports_follow_the_data_flow() -> None:
    wrong = []
    for module, targets in imports().items():
        mine = layer(module)
        if mine not in ALLOWED:
            continue
        # A data migration runs stored answers through today's preparation of answers.
        allowed = ALLOWED[mine] | ({"sync"} if ".store.migrations." in module else set())
        for target in targets:
            theirs = layer(target)
            if theirs != mine and theirs in ALLOWED and theirs not in allowed:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    graph = imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_no_module_is_over_600_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > 620}
    assert long == {}
