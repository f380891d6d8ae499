"""The import structure: stages import only earlier stages, no cycles, no hidden (function-local)
imports outside cli/ unless a comment on the line says why (an optional dependency)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "plugin" / "sparsecim"

# Pipeline order: a module may import modules of a lower rank (or of its own stage).
RANKS = {
    "errors": 0, "data": 0,
    "files": 1, "schema": 1,
    "workload": 2,
    "sparsity": 3, "attention": 3,
    "rewrite": 4,
    "mapping": 5,
    "request": 6,
    "cases": 7,
    "pipeline": 7,
    "studies": 8,
    "report": 9,
    "api": 10, "cli": 10,  # the two entry points: Python and the command line
}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        yield ".".join(p for p in rel.parts if p != "__init__"), path


MODULES = {module for module, _ in _modules()}


def _imports(tree, top_level_only: bool = False):
    """(node, imported sparsecim module); `from package import module` resolves to the module."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sparsecim"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield node, candidate if candidate in MODULES else node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sparsecim"):
                    yield node, alias.name


def test_stages_import_only_earlier_stages():
    wrong = []
    for module, path in _modules():
        stage = _stage(module)
        if stage == "__init__":
            continue
        for node, target in _imports(ast.parse(path.read_text())):
            other = _stage(target)
            if other == stage or other == "__init__":
                continue
            if RANKS[other] >= RANKS[stage]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    """At import time (module-level imports; a function-local import in cli/ runs later)."""
    graph = {}
    for module, path in _modules():
        graph[module] = {t for _, t in _imports(ast.parse(path.read_text()), top_level_only=True) if t != module}
    seen, stack = set(), []

    def visit(name):
        if name in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(name):] + [name]))
        if name in seen or name not in graph:
            return
        stack.append(name)
        for target in graph[name]:
            visit(target)
        stack.pop()
        seen.add(name)

    for name in graph:
        visit(name)


def test_function_local_imports_only_in_cli_or_explained():
    hidden = []
    for module, path in _modules():
        if _stage(module) == "cli":
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and "#" not in lines[node.lineno - 1]:
                    hidden.append(f"{module}:{node.lineno}")
    assert not hidden, "function-local imports without a reason: " + ", ".join(hidden)
