"""The package's import structure: the layers, no circles, and every module importing on its own.

The layers, from the floor up; a module imports only modules of its own layer or below it:

    floor       taskdist.specs, taskdist.seeds, taskdist.checks, taskdist.progress
    nets        taskdist.nets.*        networks, training, optimiser, linear heads
    artifacts   taskdist.artifacts.*   every file format (checkpoints rebuild networks)
    data        taskdist.data.*        sources, pools, tasks, the labelled budget
    methods     taskdist.methods.*     distances and scores
    evaluation  taskdist.evaluation.*  ground truth, reliability, floors, Mantel, selection, tables
    nas         taskdist.nas.*         architecture search (the nearest bases come from evaluation)
    top         the rest               config, stages, aggregates, runtime, cli, plots

The static graph counts every ``import`` of a taskdist module, at module level or inside a function (a
function-level import hides a circle, it does not remove it). An edge goes to the module named, not to the
packages around it (``from taskdist.nas.space import X`` is an edge to ``taskdist.nas.space``).
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "taskdist"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: taskdist modules it imports}`` from the source, function-level imports included."""
    mods = modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    deps.add(full if full in mods else base)  # `from taskdist import io` names a module
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


LAYERS = ("floor", "nets", "artifacts", "data", "methods", "evaluation", "nas", "top")
FLOOR = {"taskdist.specs", "taskdist.seeds", "taskdist.checks", "taskdist.progress"}


def layer(module: str) -> str:
    """The layer of a taskdist module, from its folder (the floor's three modules by name)."""
    if module in FLOOR:
        return "floor"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "top"


def test_no_module_imports_a_layer_above_its_own():
    graph = import_graph()
    upward = sorted(f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in graph.items() for d in deps
                    if LAYERS.index(layer(d)) > LAYERS.index(layer(m)))
    assert upward == []


def test_every_folder_is_a_layer_and_the_floor_is_flat():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LAYERS), folders - set(LAYERS)
    assert layer("taskdist.nets.models") == "nets" and layer("taskdist.config") == "top"
    assert layer("taskdist.specs") == "floor" and layer("taskdist.nas.fuse") == "nas"


def test_planning_imports_neither_torch_nor_a_method():
    """What rules/common.smk imports to plan (the config, the specs, the method registry, the versions) loads
    no torch."""
    script = ("import sys\nimport taskdist.config, taskdist.specs, taskdist.methods.registry, taskdist.runtime\n"
              "bad = sorted(m for m in sys.modules\n"
              "             if m == 'torch' or m.startswith(('taskdist.methods.', 'taskdist.nets')))\n"
              "bad.remove('taskdist.methods.registry')\nprint(bad)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "taskdist.methods.task2vec" in graph["taskdist.stages"]  # imported inside task2vec_embedding
    assert "taskdist.artifacts.io" in graph["taskdist.artifacts.vectors"]


def test_no_import_circles():
    assert cycles(import_graph()) == [], "modules that import each other, directly or through others"


def test_every_module_imports_in_a_fresh_interpreter():
    """One interpreter for all (each would cost a second of torch start-up): with no circles, whether a module
    imports cannot depend on what was imported before it."""
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    proc = subprocess.run([sys.executable, "-c", script, *sorted(modules())], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_a_module_over_500_lines_says_at_its_top_why_it_is_one():
    long = {name: path for name, path in modules().items() if len(path.read_text().splitlines()) > 500}
    silent = sorted(name for name, path in long.items() if "Why one module" not in (ast.get_docstring(
        ast.parse(path.read_text())) or ""))
    assert silent == []
