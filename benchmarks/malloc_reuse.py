"""CPU of a training step with glibc's default ``malloc`` settings against :func:`taskdist.runtime.keep_freed_memory`.

Each measurement is a fresh interpreter (one thread) that builds a network, takes ``--warmup`` steps and then
times ``--steps`` more: user and system CPU per step and minor page faults per step. The two settings alternate
process by process, ``--repeat`` times each, so that both see the same load; the medians and their ratio are
printed per network::

    python benchmarks/malloc_reuse.py --repeat 5

Networks: ``small`` is the default experiment's CNN (28 x 28 gray, batch 32, channels-last as
``fit_early_stopping`` trains); ``resnet18`` is torchvision's ResNet-18 with random weights (32 x 32 RGB,
batch 32). Both train with taskdist's Adam on cross-entropy. The final weights of the two settings are
compared too: the setting changes where memory comes from, not what is computed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, resource, sys
args = json.loads(sys.argv[1])
from taskdist.runtime import keep_freed_memory
kept = keep_freed_memory() if args["keep"] else False
import torch
torch.set_num_threads(1)
import torch.nn.functional as F
from taskdist.nets.optim import Adam
from taskdist.nets.train import LAYOUT
torch.manual_seed(0)
if args["net"] == "small":
    from taskdist.nets import models
    from taskdist.specs import ArchSpec
    net = models.build(ArchSpec(widths=(16, 32), convs_per_stage=1, pool=4, hidden=64), 1, 10, seed=0)
    shape = (32, 1, 28, 28)
else:
    from torchvision.models import resnet18
    net = resnet18(num_classes=10)
    shape = (32, 3, 32, 32)
net = net.to(memory_format=LAYOUT).train()
opt = Adam(net.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(1)
x, y = torch.randn(shape, generator=gen), torch.randint(0, 10, (shape[0],), generator=gen)
def step():
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
for _ in range(args["warmup"]):
    step()
r0 = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(args["steps"]):
    step()
r1 = resource.getrusage(resource.RUSAGE_SELF)
n = args["steps"]
digest = float(sum(p.double().sum() for p in net.parameters()))
print(json.dumps({"kept": kept, "user_ms": (r1.ru_utime - r0.ru_utime) / n * 1e3,
                  "sys_ms": (r1.ru_stime - r0.ru_stime) / n * 1e3, "faults": (r1.ru_minflt - r0.ru_minflt) / n,
                  "digest": digest}))
"""


def measure(net: str, keep: bool, steps: int, warmup: int) -> dict:
    args = json.dumps({"net": net, "keep": keep, "steps": steps, "warmup": warmup})
    out = subprocess.run([sys.executable, "-c", WORKER, args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if keep and not result["kept"]:
        raise SystemExit("keep_freed_memory() did not take here (not glibc): nothing to compare")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", default=["small", "resnet18"], choices=["small", "resnet18"])
    parser.add_argument("--repeat", type=int, default=5, help="processes per setting and network")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per process (ResNet-18: a tenth)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print("| network | malloc | user ms/step | system ms/step | CPU ms/step | page faults/step | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for net in args.nets:
        steps = args.steps if net == "small" else max(1, args.steps // 10)
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.repeat):
            for keep in (False, True):
                runs[keep].append(measure(net, keep, steps, args.warmup))
        digests = {r["digest"] for rs in runs.values() for r in rs}
        if len(digests) != 1:
            raise SystemExit(f"{net}: the final weights differ between processes: {sorted(digests)}")
        median = {keep: {k: statistics.median(r[k] for r in rs) for k in ("user_ms", "sys_ms", "faults")}
                  for keep, rs in runs.items()}
        base = median[False]["user_ms"] + median[False]["sys_ms"]
        for keep, name in ((False, "glibc default"), (True, "keep_freed_memory")):
            m = median[keep]
            cpu = m["user_ms"] + m["sys_ms"]
            print(f"| {net} | {name} | {m['user_ms']:.2f} | {m['sys_ms']:.2f} | {cpu:.2f} | {m['faults']:.0f} | "
                  f"{cpu / base:.2f}x |")


if __name__ == "__main__":
    main()
