"""The project's modules form a line: no cycles (function-local imports counted), the image's
code imports nothing seller-side, no project import hides inside a function outside the CLI,
and each folder imports only the folders below it in LAYERS.

The graph is read from the source with `ast`, so a planted import fails here without running it.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("inference_image", "package", "validation", "listing")

# Lowest first. A module may import its own layer and the layers below it, never one above.
# `package` is split: its core (manifest, contract types, engine, build) is what validation and
# listing stand on; the publisher and the CLI sit on top and drive them.
LAYERS = (
    ("image", ("inference_image",)),
    ("core", ("package",)),
    ("checks", ("validation",)),
    ("listing", ("listing",)),
    ("workflows", ("package.preflight", "package.publisher", "package.cli", "package.buyer_cli")),
)
# The CLI may import lazily, for start-up speed.
LAZY_ALLOWED = ("package.cli", "package.buyer_cli")


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} belongs to no layer"
    return best


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom, files) -> list[str]:
    """What `from X import a, b` imports: each of X.a, X.b that is a module, else X itself."""
    if node.level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    return [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in files else stem for alias in node.names]


def _imports(node, in_function=False):
    """(import statement, whether it sits inside a function) for each import below `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        yield from _imports(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """module -> project modules it imports (anywhere in it); and each function-local import."""
    files = {module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py") if (root / pkg).is_dir()}
    graph: dict[str, set[str]] = {name: set() for name in files}
    local: list[tuple[str, str, int]] = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                targets = _resolve(name, is_package, node, files)
            hits = set()
            for target in targets:
                # `from . import x` names a module x, or a name inside the package: take the
                # longest module that the dotted name starts with.
                parts = target.split(".")
                for cut in range(len(parts), 0, -1):
                    candidate = ".".join(parts[:cut])
                    if candidate in files:
                        hits.add(candidate)
                        break
            hits.discard(name)
            graph[name] |= hits
            if in_function and hits:
                local.extend((name, hit, node.lineno) for hit in sorted(hits))
    return graph, local


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
            for a in sorted(graph) for b in sorted(graph[a]) if layer_of(b) > layer_of(a)]


def local_imports(local) -> list[str]:
    return [f"{a}:{line} imports {b} inside a function" for a, b, line in local
            if not any(a == m or a.startswith(m + ".") for m in LAZY_ALLOWED)]


# ---- main as it is


def test_no_module_cycle():
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_no_upward_import():
    graph, _ = import_graph()
    assert upward_imports(graph) == []


def test_the_image_imports_nothing_seller_side():
    graph, _ = import_graph()
    seller = [f"{a} imports {b}" for a in graph if a.startswith("inference_image")
              for b in graph[a] if not b.startswith("inference_image")]
    assert seller == []


def test_no_function_local_project_import_outside_the_cli():
    _, local = import_graph()
    assert local_imports(local) == []


# ---- the test fails on planted faults


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


def test_a_planted_upward_import_is_found(tmp_path):
    root = _tree(tmp_path, {"inference_image/app.py": "from package.manifest import load_manifest\n",
                            "package/manifest.py": "X = 1\n"})
    graph, _ = import_graph(root)
    assert upward_imports(graph) == ["inference_image.app (image) imports package.manifest (core)"]


def test_a_planted_cycle_through_a_third_module_is_found(tmp_path):
    root = _tree(tmp_path, {"package/a.py": "from . import b\n",
                            "package/b.py": "from .c import f\n",
                            "package/c.py": "def f():\n    from package import a\n"})
    graph, local = import_graph(root)
    assert cycles(graph) == [["package.a", "package.b", "package.c"]]
    assert local_imports(local) == ["package.c:2 imports package.a inside a function"]


@pytest.mark.parametrize("text", ["import validation.runner\n", "from validation import runner\n",
                                  "from validation.runner import validate\n"])
def test_every_import_form_is_read(tmp_path, text):
    root = _tree(tmp_path, {"package/manifest.py": text, "validation/runner.py": "import package.manifest\n"})
    graph, _ = import_graph(root)
    assert cycles(graph) == [["package.manifest", "validation.runner"]]
