"""The layout holds: no import cycles among dipcore's modules, and the layers point one way.

The graph is read from the source (module-level imports, outside ``if TYPE_CHECKING``), so
a cycle hidden by the order in which ``dipcore/__init__`` happens to import things is still
found. A function-level import of a dipcore module is allowed only where it is deliberate
(the command line keeps ``--help`` light; the scheme registry loads a built-in scheme by
name; Dask is imported only when asked for).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dipcore"
#: Function-level imports of dipcore modules that are deliberate: module -> allowed targets.
LAZY_ALLOWED = {
    "dipcore.api": {"dipcore.engine.distributed"},
    # the report pulls in plotly and Jinja2; ``import dipcore`` does not
    "dipcore": {"dipcore.reports.html"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _target(node: ast.ImportFrom | ast.Import, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = [f"{prefix}.{a.name}" for a in node.names]
    # ``from package import module`` names a module; ``from module import name`` the module
    return [n if n in MODULES else prefix for n in names]


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(module-level, function-level) dipcore modules imported by ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, lazy = set(), set()

    def visit(nodes, in_function):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _target(node, module, path.name == "__init__.py"):
                    if t.startswith("dipcore") and t in MODULES and t != module:
                        (lazy if in_function else top).add(t)
            for child in ast.iter_child_nodes(node):
                visit([child], in_function or isinstance(node, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef)))
    visit(tree.body, False)
    return top, lazy


def _graph() -> dict[str, set[str]]:
    graph = {}
    for m in MODULES:
        top, _ = _imports(m)
        # importing a module runs its packages' __init__ first: edges to them are implied,
        # not chosen, so they are left out of the cycle check
        graph[m] = {t for t in top if not m.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(graph.get(n, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if state.get(t) is None:
                found = dfs(t)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None
    for n in sorted(graph):
        if n not in state:
            found = dfs(n)
            if found:
                return found
    return None


def test_the_module_graph_has_no_cycle():
    graph = _graph()
    assert len(graph) > 40
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_hidden_function_level_imports():
    """A function-level import of a dipcore module is a cycle waiting to happen; only the
    command line (kept light to start) and the listed deliberate ones may have them."""
    found = {}
    for m in MODULES:
        if m.startswith("dipcore.cli"):
            continue
        _, lazy = _imports(m)
        extra = lazy - LAZY_ALLOWED.get(m, set())
        if extra:
            found[m] = sorted(extra)
    assert found == {}


@pytest.mark.parametrize("lower, upper", [
    ("dipcore.ingest", "dipcore.payment"), ("dipcore.ingest", "dipcore.schemes"),
    ("dipcore.ingest", "dipcore.supervision"), ("dipcore.payment", "dipcore.schemes.dip"),
    ("dipcore.payment", "dipcore.engine"), ("dipcore.supervision", "dipcore.engine"),
    ("dipcore.schemes.base", "dipcore.schemes.dip"), ("dipcore.engine", "dipcore.api"),
    ("dipcore.coding", "dipcore.ingest"), ("dipcore.engine", "dipcore.schemes.dip"),
    ("dipcore.supervision", "dipcore.schemes.dip"),
])
def test_layers_point_one_way(lower, upper):
    """Ingest knows nothing of payment; payment and supervision nothing of DIP or of
    executors; the scheme seam nothing of its implementations; the engine nothing of DIP
    or of the public API."""
    graph = _graph()
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith(lower)
                 for t in ts if t.startswith(upper))
    assert bad == []
