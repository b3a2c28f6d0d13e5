"""The import graph of ``ei_tf`` follows the layers listed in the package docstring: no cycle,
and no import from a later layer."""

import ast
import re
from pathlib import Path

import ei_tf

PACKAGE = Path(ei_tf.__file__).parent


def layers() -> dict[str, int]:
    """``{top-level module or subpackage: layer number}`` from the package docstring."""
    out = {}
    for number, names in re.findall(r"^(\d)\. [^:]+:((?:.|\n   )*)", ei_tf.__doc__, re.M):
        for name in re.findall(r"``(\w+)``", names):
            out[name] = int(number)
    out["__init__"] = max(out.values())  # the package itself: load_run, on top
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The ei_tf modules ``path`` imports, at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names]
            found.update(t if (PACKAGE.parent / (t.replace(".", "/") + ".py")).is_file()
                         or (PACKAGE.parent / t.replace(".", "/")).is_dir() else base
                         for t in targets)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "ei_tf" or m.startswith("ei_tf.")} - {name}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def layer_of(module: str, table: dict) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    assert key in table, f"{module} is in no layer of the package docstring"
    return table[key]


def test_every_module_is_in_a_layer_and_imports_only_downward():
    table = layers()
    assert {"config", "model", "training", "analysis", "figures", "cli"} <= set(table)
    upward = [f"{m} (layer {layer_of(m, table)}) -> {t} (layer {layer_of(t, table)})"
              for m, targets in graph().items() for t in targets
              if layer_of(t, table) > layer_of(m, table)]
    assert upward == []


def test_no_import_cycle():
    edges = graph()
    state: dict = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_config_imports_nothing_of_ei_tf_and_figures_only_plot():
    edges = graph()
    assert edges["ei_tf.config"] == set()
    # figures/ reads runs and summary quantities from analysis/, never the SavedModels.
    assert not any(t.startswith(("ei_tf.analysis.pipeline", "ei_tf.analysis.recording"))
                   for m, targets in edges.items() if m.startswith("ei_tf.figures")
                   for t in targets)
