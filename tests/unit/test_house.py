"""The house rules of "One house", checked on every run: no import circle in ``src/``, no top-level module but
the entry points and the cross-cutting ones, no function longer than 100 lines, the stage names written once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "src" / "leadworker"
TOP_LEVEL_ALLOWED = {"__init__", "__main__", "config", "contracts", "errors"}
STAGE_NAMES = {"scrape", "normalize", "score", "notify", "maintenance", "schedule"}
MAX_FUNCTION_LINES = 100


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def module_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Every leadworker module ``name`` imports, wherever the import stands (module level, in a function, under
    TYPE_CHECKING): a circle through a lazy or typing-only import is still a circle a reader has to follow."""
    found: set[str] = set()
    is_package = (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
    package = name if is_package else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "leadworker")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "leadworker":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    found.discard(name)
    return found


def test_no_import_circle() -> None:
    trees = {name: tree for name, _, tree in modules()}
    known = set(trees)
    graph = {name: module_imports(name, tree, known) & known for name, tree in trees.items()}
    # An import of a.b.c also runs a and a.b: a package's __init__ is part of the edge.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles[:10])


def test_no_loose_top_level_modules() -> None:
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in TOP_LEVEL_ALLOWED)
    assert not loose, f"top-level modules that belong in a layer's package: {loose}"


def test_no_two_modules_of_one_name() -> None:
    seen: dict[str, list[str]] = {}
    for name, path, _ in modules():
        if path.stem != "__init__":
            seen.setdefault(path.stem, []).append(name)
    twice = {stem: names for stem, names in seen.items() if len(names) > 1 and stem != "__main__"}
    assert not twice, twice


def test_no_function_longer_than_100_lines() -> None:
    long = []
    for name, _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long


def test_stage_names_are_written_once() -> None:
    """No collection of stage names anywhere but the stage table: the next stage is added in one place."""
    lists = []
    for name, _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            elif isinstance(node, ast.Dict):
                names = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            else:
                continue
            if len(names & STAGE_NAMES) >= 2:
                lists.append(f"{name}:{node.lineno}")
    assert len({entry.split(":")[0] for entry in lists}) <= 1, lists


LAYERS_MAY_IMPORT = {
    # Every layer may import config, contracts and errors. Read with the README's "Code layout" table.
    "cli": {"api", "broker", "common", "demo", "learning", "ops", "stages", "store", "worker"},
    "api": {"broker", "common", "dashboard", "demo", "ops", "scrape", "stages", "store", "worker", "enrich"},
    "dashboard": {"api", "broker", "ops", "store"},
    "demo": {"broker", "common", "ops", "store", "worker"},
    "worker": {"broker", "learning", "ops", "stages", "store"},
    "stages": {"broker", "common", "enrich", "learning", "ops", "scrape", "store"},
    "learning": {"common", "enrich", "store"},
    "scrape": {"common", "enrich", "ops", "store"},
    "enrich": {"common"},
    "ops": {"broker", "common", "scrape", "store"},
    "broker": {"ops", "stages", "store"},
    "store": {"broker", "common", "enrich"},
    "common": set(),
    "config": {"broker", "common", "enrich", "stages"},
    "contracts": set(),
    "errors": set(),
}
EVERYONE_MAY_IMPORT = {"config", "contracts", "errors"}


def test_layers_import_only_what_the_code_layout_allows() -> None:
    """A new dependency between layers is a decision: make it here and in the README, not by accident."""
    found: dict[str, set[str]] = {}
    for name, _, tree in modules():
        parts = name.split(".")
        layer = parts[1] if len(parts) > 1 else "__init__"
        if layer in ("__init__", "__main__"):
            continue
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leadworker."):
                targets = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("leadworker.")]
            for target in targets:
                if target != layer and target not in EVERYONE_MAY_IMPORT | LAYERS_MAY_IMPORT.get(layer, set()):
                    found.setdefault(name, set()).add(target)
    assert not found, found
