"""The architecture stays visible: business modules import each other without a circle,
and staleness sits below every app that calls it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mlstrat"
# Entry points may import anything below them.
TOP = {"api", "web", "demo", "settings", "cli", "celery", "urls", "wsgi", "asgi"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every mlstrat module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mlstrat")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("mlstrat"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = _module_name(path).split(".")
            base = base[: len(base) - node.level + (1 if path.name == "__init__.py" else 0)]
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {
        _module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts and "management" not in p.parts
    }
    business = {
        name: path
        for name, path in files.items()
        if name.count(".") >= 1 and name.split(".")[1] not in TOP
    }
    return {
        name: {imported for imported in _imports(path) if imported in business and imported != name}
        for name, path in business.items()
    }


def _app(module: str) -> str:
    return module.split(".")[1]


def test_business_modules_import_each_other_without_a_circle():
    """Across apps (a service that queues its own app's task, which calls the service back,
    is Celery's usual shape and stays inside one app)."""
    graph = {
        name: {m for m in imported if _app(m) != _app(name)} for name, imported in _graph().items()
    }
    visiting, done, cycles = set(), set(), []

    def visit(node, trail):
        if node in done:
            return
        if node in visiting:
            cycles.append(trail[trail.index(node) :] + [node])
            return
        visiting.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [nxt])
        visiting.discard(node)
        done.add(node)

    for node in sorted(graph):
        visit(node, [node])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_datasets_never_reaches_up_into_the_apps_built_on_it():
    graph = _graph()
    above = ("mlstrat.review", "mlstrat.labels", "mlstrat.analytics", "mlstrat.imports")
    for name, imported in graph.items():
        if name.startswith("mlstrat.datasets"):
            assert not [m for m in imported if m.startswith(above)], name


def test_every_write_that_changes_a_figure_calls_the_one_staleness_function():
    """No second way to mark figures stale: only datasets/staleness.py touches FigureState
    (and the analytics services that read it through staleness)."""
    writers = []
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts or path.name in ("staleness.py", "models.py", "admin.py"):
            continue
        text = path.read_text()
        if "requested_at" in text and "FigureState" in text:
            writers.append(str(path.relative_to(PACKAGE)))
    assert writers == []
