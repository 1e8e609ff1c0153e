"""What a fresh job process pays besides its work: start-up (torch.optim.Adam or taskdist's Adam) and exit.

Every workflow job is its own Python process. Each variant below runs in a new
interpreter, imports torch, builds a small task network and takes one
optimizer step; the times are medians over ``--repeat`` processes, measured
side by side in one run:

- ``import torch``: the floor every job pays;
- ``network, no step``: plus taskdist's imports, a network, one backward pass;
- ``torch.optim.Adam``: that plus one step, whose first call imports ``torch._dynamo``;
- ``taskdist.nets.optim.Adam``: the same step without that import;
- ``... + runtime.finish()``: that, leaving as every job does, without the interpreter's teardown.

    python benchmarks/job_startup.py --repeat 11   # 5 is too few: process start-up varies by ~1 s

``--kinds``: the fixed CPU cost of each job kind instead (a fresh interpreter importing what its workflow
script imports, torch for the kinds that start with it, a task table read as the kinds that read one read it,
pandas for the kind that makes frames at work, and for the kinds that solve transport problems the POT solver
they load), beside ``import ot`` as those jobs paid it before issue 24 and pandas as every torch job loaded it
before (for its task table)::

    python benchmarks/job_startup.py --kinds --repeat 3
    python benchmarks/job_startup.py --kinds --repeat 5 --before /tmp/old   # another checkout beside this one

Targets: taskdist's Adam adds < 5 % to ``network, no step``, where torch's adds about a second or more;
``runtime.finish()`` saves a quarter of the process or more.
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from taskdist.artifacts import task_table

REPO = Path(__file__).resolve().parents[1]
"""The checkout this benchmark belongs to (its workflow scripts; the "now" side of ``--kinds --before``)."""

SETUP = (
    "import torch\n"
    "from taskdist.nets import models\n"
    "from taskdist.config import ArchSpec\n"
    "net = models.build(ArchSpec(widths=(16, 32), convs_per_stage=1, pool=4, hidden=64), 1, 10, seed=0)\n"
    "loss = net(torch.randn(8, 1, 28, 28)).logsumexp(1).mean()\n"
    "loss.backward()\n"
)
VARIANTS = {
    "import torch": "import torch\n",
    "network, no step": SETUP,
    "torch.optim.Adam": SETUP + "opt = torch.optim.Adam(net.parameters()); opt.step()\n",
    "taskdist.nets.optim.Adam": SETUP
    + "from taskdist.nets.optim import Adam\nopt = Adam(net.parameters()); opt.step()\n",
}
FINISH = "from taskdist.runtime import finish\nfinish()\n"
VARIANTS["... + runtime.finish()"] = VARIANTS["taskdist.nets.optim.Adam"] + FINISH


def seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


KINDS = (
    "prepare_dataset",
    "make_task",
    "train_task",
    "fisher",
    "transfer",
    "scores",
    "task2vec_embed",
    "tanas",
    "path_length",
    "transfer_bound",
)
"""Job kinds (workflow scripts) whose fixed cost ``--kinds`` measures."""
FRAMES = {"make_task": "import pandas"}
"""Kinds that import pandas at work rather than at their script's top: make_task makes its table as a frame."""
SOLVER = {"transfer_bound": "pot._submodule('ot.lp.emd_wrap')"}
"""What the kinds that solve transport problems load when they first call POT (:mod:`taskdist.methods.pot`): the
bound's network simplex; the path lengths solve their Sinkhorn in torch and load no POT."""


def script_imports(kind: str, table: Path) -> str:
    """What a job of ``workflow_scripts/{kind}.py`` loads before its work: the script's module-level imports,
    torch where it starts with ``torch=True``, the task table ``table`` read where it reads one."""
    path = REPO / "workflow_scripts" / f"{kind}.py"
    source = path.read_text()
    lines = [ast.unparse(node) for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    if "torch=True" in source:
        lines.append("import torch")
    if "task_table.read(" in source:
        lines += ["from taskdist.artifacts import task_table", f"task_table.read({str(table)!r})"]
    if kind in FRAMES:
        lines.append(FRAMES[kind])
    if kind in SOLVER:
        lines += ["from taskdist.methods import pot", SOLVER[kind]]
    return "\n".join(lines) + "\n"


def cpu_seconds(code: str, code_dir: str | Path | None = None) -> float:
    """CPU seconds (user + system) of a fresh interpreter running ``code``; with ``code_dir``, importing
    taskdist from that checkout (first on ``PYTHONPATH``, and ``-P``: not from the working directory)."""
    env = None if code_dir is None else {**os.environ, "PYTHONPATH": str(code_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-P", "-c", code], check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def kinds(repeat: int, before: str | None) -> None:
    """The fixed cost of each job kind: a fresh interpreter importing what its script imports, CPU seconds; with
    ``before`` (another checkout), the same with that code, interleaved, and the ratio."""
    table = Path(tempfile.mkdtemp()) / "task.parquet"
    task_table.write(task_table.TaskTable(np.arange(3), np.array([0, 1, 0]), np.array(["train", "val", "test"],
                                                                                      dtype=object)),
                     table, task="task")
    variants = {"python -c pass": "pass", "import torch": "import torch"}
    variants |= {kind: script_imports(kind, table) for kind in KINDS}
    variants["import torch, then import ot (all of POT)"] = "import torch\nimport ot"
    variants["import torch, then pandas and pyarrow's Parquet reader"] = "import torch\nimport pandas, pyarrow.parquet"
    states = {"now": REPO} | ({"before": before} if before else {})
    times = {(state, name): [] for state in states for name in variants}
    for _ in range(repeat):  # interleaved
        for name, code in variants.items():
            for state, code_dir in states.items():
                times[state, name].append(cpu_seconds(code, code_dir))
    print(f"# fixed CPU-s per job kind (imports of its script), median of {repeat}; load {os.getloadavg()[0]:.2f}")
    if not before:
        print("| job kind | CPU-s |\n| --- | ---: |")
        for name in variants:
            print(f"| {name} | {statistics.median(times['now', name]):.2f} |")
        return
    print(f"# before: taskdist from {before}")
    print("| job kind | before CPU-s | now CPU-s | now / before |\n| --- | ---: | ---: | ---: |")
    for name in variants:
        old, new = (statistics.median(times[state, name]) for state in ("before", "now"))
        print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--kinds", action="store_true", help="the fixed CPU cost of each job kind instead")
    parser.add_argument("--before", metavar="DIR", help="with --kinds: also a checkout of other code (e.g. `git "
                        "archive REV | tar -x -C DIR`), its taskdist imported instead, side by side")
    args = parser.parse_args()
    if args.kinds:
        kinds(args.repeat, args.before)
        return
    times = {name: [] for name in VARIANTS}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every variant alike
        for name, code in VARIANTS.items():
            times[name].append(seconds(code))
    torch_only = statistics.median(times["import torch"])
    no_step = statistics.median(times["network, no step"])
    print(f"{'process':>26} {'median s':>9} {'x import torch':>15} {'x no step':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:>26} {median:9.2f} {median / torch_only:15.2f} {median / no_step:10.2f}")


if __name__ == "__main__":
    main()
