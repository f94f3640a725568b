"""The modules of `audits` import each other without a circle: a layout where the arrows show the architecture.

Every import that runs counts, at the top of a module or inside a function: an import moved into a function to dodge
a circle still ties the two modules together. Imports under `if TYPE_CHECKING:` never run; they name a type for the
checker only (audits.iam.analysis names the incremental module's Reuse that way) and are left out."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGE = "audits"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    return {name: path for name, path in found.items() if ".migrations" not in name}


def imported(node: ast.AST, current: str, is_package: bool, known: set[str]) -> set[str]:
    """The `audits` modules an import statement reaches (a from-import of a submodule reaches the submodule)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        anchor = current.split(".") if is_package else current.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    reached = {f"{base}.{alias.name}" for alias in node.names} & known
    if base in known and len(reached) < len(node.names):
        reached.add(base)  # names defined in the module itself
    return reached


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and (
            (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
        ):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def runtime_imports(tree: ast.AST) -> list[ast.AST]:
    skipped = _type_checking_only(tree)
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def import_graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    graph = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in runtime_imports(ast.parse(path.read_text(), str(path))):
            edges |= imported(node, name, is_package, names)
        # A package's own __init__ is imported on the way to any of its modules; it is not an arrow of the layout.
        graph[name] = {target for target in edges if target != name and not name.startswith(target + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as the list of modules along it, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_it_finds_a_circle_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_it_reads_function_level_and_relative_imports():
    tree = ast.parse("def f():\n    from audits.runs import worker\n    from . import status\n")
    known = {"audits.runs", "audits.runs.worker", "audits.runs.status"}
    reached = set().union(*(imported(n, "audits.runs.start", False, known) for n in ast.walk(tree)))
    assert reached == {"audits.runs.worker", "audits.runs.status"}


def test_it_has_no_import_circle_in_audits():
    graph = import_graph()
    assert {"audits.runs.worker", "audits.views.runs", "audits.models"} <= graph.keys()
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_it_leaves_out_imports_made_for_the_type_checker_only():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from audits.runs import worker\n"
        "from audits.runs import status\n"
    )
    known = {"audits.runs", "audits.runs.worker", "audits.runs.status"}
    reached = set().union(*(imported(n, "audits.x", False, known) for n in runtime_imports(tree)))
    assert reached == {"audits.runs.status"}
