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

Targets: taskdist's Adam adds < 5 % to ``network, no step``, where torch's adds about a second or more;
``runtime.finish()`` saves a quarter of the process or more.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
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
