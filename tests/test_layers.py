"""The house rules, checked on the source: layers import downwards only, no import cycles (lazy
imports inside functions count too), no module over 400 lines, and nothing below cli/ prints.

docs/architecture.md explains the layers; this file is what keeps them true.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kipoi_store"

# Lowest first. A module may import its own layer or lower ones, never a higher one.
LAYERS = [
    ("base", {"errors", "paths", "frozen", "names", "tree", "spec", "procs"}),
    ("store", {"store"}),
    ("config, net", {"config", "net"}),
    ("dist", {"dist"}),
    ("git, lfs", {"git", "lfs"}),
    ("models", {"models"}),
    ("sources", {"sources"}),
    ("resolver", {"resolver", "refs"}),
    ("front", {"cli", "api", "kipoi", "__main__"}),
]
MAX_LINES = 400
PRINTING = re.compile(r"(?<![\w.])print\(|sys\.std(out|err)\.write")


def modules():
    """Dotted name -> path of every module of the package (the demo models are data)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "demo":
            continue
        parts = ["kipoi_store", *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(module):
    """Index into LAYERS; the package root (its version and public API) sits on top."""
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)
    for i, (_, names) in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError("module %s is in no layer: add it to LAYERS in %s" % (module, __file__))


def imports(module, path, known):
    """The package's modules that `module` imports, anywhere in its body."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + ["%s.%s" % (target, a.name) for a in node.names]
        else:
            continue
        for name in names:
            if name in known and name != module:
                found.add(name)
    return found


GRAPH = {m: imports(m, p, modules()) for m, p in modules().items()}


def test_every_module_is_in_a_layer():
    for module in GRAPH:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_layers_import_downwards_only(module):
    if module == "kipoi_store":
        return  # the public API may reach anything (lazily)
    mine = layer_of(module)
    upward = [m for m in sorted(GRAPH[module])
              if m != "kipoi_store" and layer_of(m) > mine]
    assert upward == [], "%s (%s) imports a higher layer: %s" % (module, LAYERS[mine][0], upward)


def test_no_import_cycles():
    # A package's __init__ is imported with each of its modules: leave out edges to it, which
    # only say "this module lives in that package".
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in GRAPH.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_modules_stay_small(module):
    lines = modules()[module].read_text().count("\n")
    assert lines <= MAX_LINES, "%s has %d lines: split it by concept" % (module, lines)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer_of(m) < len(LAYERS) - 1))
def test_the_library_never_prints(module):
    text = modules()[module].read_text()
    assert not PRINTING.search(text), "%s prints: only cli/ does" % module
