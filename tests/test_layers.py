"""The package's layers (docs/architecture.md): no import runs up a layer, none goes round in a loop.

Read from the source (every `import`, at the top or inside a function), so a lazy import that
breaks the order is caught too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kitty_hooks"

# Lowest first: a module may import from its own layer or any below it. Same as the table in
# docs/architecture.md.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "model",
            "contract",
            "errors",
            "locations",
            "files",
            "assets",
            "wording",
            "views",
            "__init__",
        }
    ),
    frozenset({"gitrepo"}),
    frozenset({"queue"}),
    frozenset({"check"}),
    frozenset({"capture"}),
    frozenset({"deliver"}),
    frozenset({"peer"}),
    frozenset({"githooks"}),
    frozenset({"health"}),
    frozenset({"cli"}),
    frozenset({"entry", "__main__"}),
)
LAYER_OF = {part: index for index, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The wing or top-level module a module belongs to: kitty_hooks.queue.store -> queue."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> Iterator[str]:
    """Every kitty_hooks name a module imports, as far as it is spelt: `from kitty_hooks.queue
    import store` gives kitty_hooks.queue.store, `from kitty_hooks.queue.store import EventQueue`
    kitty_hooks.queue.store.EventQueue (module_graph cuts a name back to the module it is in)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "kitty_hooks")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "kitty_hooks"
        ):
            yield from (f"{node.module}.{a.name}" for a in node.names)


def module_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path):
            while imported not in modules and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(m) for m in module_graph()}
    assert sorted(parts - set(LAYER_OF)) == []


def test_no_import_runs_up_a_layer() -> None:
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in module_graph().items()
        for target in targets
        if LAYER_OF[part_of(target)] > LAYER_OF[part_of(source)]
    )
    assert upward == []


def test_no_modules_import_each_other_in_a_loop() -> None:
    graph = module_graph()
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                loops.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert loops == []


def test_the_check_knows_an_upward_import_when_it_sees_one(tmp_path: Path) -> None:
    """The graph is read from the source: a model module importing the queue would be caught."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from kitty_hooks.queue.store import EventQueue\n")
    imported = list(imports_of(probe))
    assert imported == ["kitty_hooks.queue.store.EventQueue"]
    assert LAYER_OF[part_of(imported[0])] > LAYER_OF[part_of("kitty_hooks.model.events")]
