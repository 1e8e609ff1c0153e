"""CPU of one per-pair job of the path lengths or the transferability bound, for two code states side by side.

Each pair runs in a fresh Python process (imports included, as a workflow job pays them) with the ``taskdist``
of ``--code`` first on its path, one thread, reading the networks, datasets and task tables of a finished run
(``--run``: a directory where the workflow ran, with ``results/models``, ``results/tasks`` and
``resources/datasets``). The job's settings are those of the config the run used (``--config``, with optional
overlays) plus ``--set section.key=value`` overrides, so the same pairs can be timed under the code before and
after a change::

    git archive 199c6e4 | tar -x -C /tmp/before      # a code state, outside any checkout
    nice -n 10 python benchmarks/pair_costs.py --run /work/after --code /tmp/before \\
        --method transfer_bound --pair mnist_low:digits_low --pair mnist_low:mnist_low@resample

Prints one JSON line per pair: CPU seconds of the process (user + system, start-up included), of the import of
taskdist's stage and POT, wall seconds, and the record's headline values. Compare ratios measured in one session
on one machine (state its load, ``uptime``): CPU seconds of a shared machine vary by tens of percent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
args = json.loads(sys.argv[1])
t0 = cpu()
from taskdist import runtime
if hasattr(runtime, "keep_freed_memory"):  # as the code state's jobs run
    runtime.keep_freed_memory()
import torch
torch.set_num_threads(1)
from taskdist import config, stages
from taskdist.artifacts import checkpoint, dataset, task_table
from taskdist.data import budget as budgets
from taskdist.seeds import stable_seed
from taskdist.specs import resample, to_params
t_import = cpu() - t0
exp = config.from_dict(config.validate_schema(args["config"]))
specs = {**exp.tasks, **{r.id: r for r in (resample(s) for s in exp.tasks.values())}}
run = args["run"]
def data(task):
    spec = specs[task]
    files = [f"{run}/resources/datasets/{spec.dataset}/{c}.npz" for c in spec.classes]
    return dataset.read(files), task_table.read(f"{run}/results/tasks/{task}.parquet")
source, target = args["source"], args["target"]
budget = None
if exp.target_examples != "train":
    budget = exp.transfer.labelled_budget(stable_seed(exp.seed, "transfer", target))
ckpt = None if args["method"] == "scratch" else checkpoint.read(f"{run}/results/models/{source}.pt")
device = torch.device("cpu")
t1 = cpu()
if args["method"] in ("transfer", "scratch"):
    import hashlib
    from taskdist.evaluation import transfer
    scratch = args["method"] == "scratch"
    models = None if scratch else [ckpt] + [checkpoint.read(f"{run}/results/models/{source}@{v}.pt")
                                           for v in exp.consistency.variants() if v.startswith("seed")]
    runs = transfer.run(models, specs[target], *data(target), exp.network if scratch else None, exp.transfer,
                        stable_seed(exp.seed, "transfer", target), device)
    t_ot = 0.0
    out = {"runs": len(runs), "epochs": sum(r["epochs"] for r in runs),
           "accuracy": {s: round(sum(r["accuracy"] for r in runs if r["setting"] == s)
                                 / sum(r["setting"] == s for r in runs), 6) for s in {r["setting"] for r in runs}},
           "digest": hashlib.sha1(json.dumps([[r["accuracy"], r["loss"], r["epochs"]] for r in runs]).encode())
           .hexdigest()[:12]}
elif args["method"] == "transfer_bound":
    seed = stable_seed(exp.seed, "bound", source, target)
    r = stages.pair_bound(ckpt, data(source), data(target), budget, exp.transfer_bound, seed, device)
    t_ot = 0.0
    out = {"bound": r["bound"], "target_loss": r["terms"]["target_loss"], "test_loss": r["test"]["target_loss"],
           "test_bound": r["test"]["bound"], "linear_loss": r["linear_loss"], "best_epoch": r["best_epoch"],
           "terms": {k: r["terms"][k] for k in ("source_loss", "conditional_entropy", "wasserstein")}}
else:
    from taskdist.methods import coupled
    from taskdist.methods.registry import path_reads
    spec = coupled.spec_of(args["method"], path_reads(args["method"], exp.coupled))
    seed = stable_seed(exp.seed, "path", source, target)
    r = stages.pair_path(args["method"], ckpt, data(source), data(target), budget, spec, seed, device)
    out = {"distance": r["distance"], "samples": r["samples"],
           "target_accuracy_end": r["path"]["target_accuracy"][-1],
           "source_accuracy_start": r["path"]["source_accuracy"][0],
           "iterations": [round(it["distance"], 4) for it in r["iterations"]]}
    for key in ("head", "moved"):
        if key in r:
            out[key] = r[key]
out["modules_ot"] = sorted(m for m in sys.modules if m == "ot" or m.startswith("ot."))[:5]
out["sklearn_imported"] = "sklearn.cluster" in sys.modules
out["cpu_import_s"] = round(t_import, 2)
out["cpu_stage_s"] = round(cpu() - t1, 2)
print("RESULT " + json.dumps(out))
"""


def merged(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, mappings merged key by key (as Snakemake merges --configfile overlays)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="directory of a finished run")
    parser.add_argument("--code", type=Path, required=True, help="root of the taskdist code to time")
    parser.add_argument("--config", type=Path, action="append", help="config file(s), later ones overlaid")
    parser.add_argument("--method", required=True, help="coupled, uncoupled, finetune_length, transfer_bound, "
                        "transfer or scratch (the ground truth; scratch ignores the pair's source)")
    parser.add_argument("--pair", action="append", required=True, help="source:target")
    parser.add_argument("--set", action="append", default=[], help="section.key=value (YAML value)")
    args = parser.parse_args()
    cfg: dict = {}
    for path in args.config or [args.run / "config.yaml"]:
        cfg = merged(cfg, yaml.safe_load(path.read_text()))
    for item in args.set:
        key, value = item.split("=", 1)
        *sections, last = key.split(".")
        node = cfg
        for s in sections:
            node = node.setdefault(s, {})
        node[last] = yaml.safe_load(value)
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for pair in args.pair:
        source, target = pair.split(":")
        job = {"config": cfg, "run": str(args.run.resolve()), "method": args.method, "source": source,
               "target": target}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-P", "-c", WORKER, json.dumps(job)], env=env, capture_output=True,
                              text=True, cwd="/")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{pair} failed:\n{done.stderr[-3000:]}")
        [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        result = json.loads(line.removeprefix("RESULT "))
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(json.dumps({"code": str(args.code), "method": args.method, "pair": pair, "cpu_s": round(cpu, 2),
                          "wall_s": round(wall, 2), "load": os.getloadavg()[0], **result}), flush=True)


if __name__ == "__main__":
    main()
