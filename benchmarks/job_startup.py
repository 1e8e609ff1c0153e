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
script imports, and for the kinds that solve transport problems the POT solver they load), beside
``import ot`` as those jobs paid it before issue 24::

    python benchmarks/job_startup.py --kinds --repeat 3

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
import time
from pathlib import Path

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
SOLVER = {"transfer_bound": "pot._submodule('ot.lp.emd_wrap')"}
"""What the kinds that solve transport problems load when they first call POT (:mod:`taskdist.methods.pot`): the
bound's network simplex; the path lengths solve their Sinkhorn in torch and load no POT."""


def script_imports(kind: str) -> str:
    """The module-level imports of ``workflow_scripts/{kind}.py`` (what its job loads before any work)."""
    path = Path(__file__).resolve().parents[1] / "workflow_scripts" / f"{kind}.py"
    tree = ast.parse(path.read_text())
    lines = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    if kind in SOLVER:
        lines += ["from taskdist.methods import pot", SOLVER[kind]]
    return "\n".join(lines) + "\nimport torch\n"


def cpu_seconds(code: str) -> float:
    """CPU seconds (user + system) of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def kinds(repeat: int) -> None:
    """The fixed cost of each job kind: a fresh interpreter importing what its script imports, CPU seconds."""
    variants = {"python -c pass": "pass", "import torch": "import torch"}
    variants |= {kind: script_imports(kind) for kind in KINDS}
    variants["import torch, then import ot (all of POT)"] = "import torch\nimport ot"
    times = {name: [] for name in variants}
    for _ in range(repeat):  # interleaved
        for name, code in variants.items():
            times[name].append(cpu_seconds(code))
    print(f"# fixed CPU-s per job kind (imports of its script), median of {repeat}; load {os.getloadavg()[0]:.2f}")
    print("| job kind | CPU-s |\n| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--kinds", action="store_true", help="the fixed CPU cost of each job kind instead")
    args = parser.parse_args()
    if args.kinds:
        kinds(args.repeat)
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
