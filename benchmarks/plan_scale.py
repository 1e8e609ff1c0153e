"""How long Snakemake takes to plan the workflow for n tasks.

For each n, writes the default experiment (config.yaml) with its tasks replaced
by n class-subset tasks into a fresh working directory and times
``snakemake -n`` there (nothing exists yet, so every job is planned):
parsing, config validation, DAG construction and the dry-run report. The
number of jobs grows like n² (every network on every task, every ordered pair
of tasks), so this is where a quadratic helper or a slow wildcard regex shows.

    python benchmarks/plan_scale.py                 # n = 10, 25, 50
    python benchmarks/plan_scale.py --tasks 10 100 --repeat 3

Target: 50 tasks plan in at most 30 s.
"""

from __future__ import annotations

import argparse
import itertools
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("digits", "mnist5k")  # both embedded: planning needs no download


def scaled_config(n_tasks: int) -> dict:
    """The default experiment with ``n_tasks`` distinct tasks (3-class subsets, alternating datasets)."""
    if n_tasks < 2:
        raise ValueError(f"n_tasks must be at least 2, got {n_tasks}")
    subsets = list(itertools.combinations(range(10), 3))
    if n_tasks > len(subsets) * len(DATASETS):
        raise ValueError(f"n_tasks must be at most {len(subsets) * len(DATASETS)}, got {n_tasks}")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    old_ids = [task["id"] for task in cfg["tasks"]]
    cfg["tasks"] = [
        {
            "id": f"t{i:03d}",
            "dataset": DATASETS[i % len(DATASETS)],
            "classes": list(subsets[i // len(DATASETS)]),
            "samples_per_class": 50,
        }
        for i in range(n_tasks)
    ]
    # Keys that name tasks (e.g. the Task2Vec probe's tasks) name the new ones instead.
    renamed = {old: f"t{i % n_tasks:03d}" for i, old in enumerate(old_ids)}
    out = {key: (value if key == "tasks" else _rename(value, renamed)) for key, value in cfg.items()}
    nas = out.get("nas") or {}
    if "base_tasks" in nas and "targets" in nas:  # with few tasks a target's new id can be a base's too
        nas["base_tasks"] = [t for t in nas["base_tasks"] if t not in nas["targets"]]
        nas["k"] = min(nas.get("k", 1), len(nas["base_tasks"]))
    return out


def _rename(value, renamed: dict[str, str]):
    """``value`` with old task ids replaced; a list keeps one of the new ids that old ones share (fewer new tasks
    than old ones map several old ids to one new id)."""
    if isinstance(value, dict):
        return {k: _rename(v, renamed) for k, v in value.items()}
    if isinstance(value, list):
        out, seen = [], set()
        for item in value:
            new = _rename(item, renamed)
            if isinstance(item, str) and item in renamed:
                if new in seen:
                    continue
                seen.add(new)
            out.append(new)
        return out
    return renamed.get(value, value) if isinstance(value, str) else value


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plan(n_tasks: int, workdir: Path) -> tuple[int, float, float, dict[str, int]]:
    """Time ``snakemake -n`` on an ``n_tasks`` config; return (jobs planned, wall s, CPU s, jobs per rule)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(scaled_config(n_tasks), sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "-n", "--cores", "1"]
    cpu, start = child_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, child_cpu_seconds() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake -n failed for {n_tasks} tasks:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    text = proc.stdout + proc.stderr
    stats = text[text.rindex("Job stats:") :]
    per_rule = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.M)}
    total = per_rule.pop("total")
    return total, seconds, cpu, per_rule


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 25, 50], help="task counts to plan")
    parser.add_argument("--repeat", type=int, default=1, help="runs per task count; the fastest is reported")
    args = parser.parse_args(argv)
    # Wall time is what a user waits; CPU time (user + system) tells the same on a busy machine.
    print(f"{'tasks':>5}  {'jobs':>6}  {'wall s':>6}  {'CPU s':>6}  jobs per rule")
    with tempfile.TemporaryDirectory(prefix="plan_scale_") as tmp:
        for n in args.tasks:
            runs = [plan(n, Path(tmp) / f"n{n}_{r}") for r in range(args.repeat)]
            total, per_rule = runs[0][0], runs[0][3]
            wall, cpu = min(r[1] for r in runs), min(r[2] for r in runs)
            top = ", ".join(f"{rule} {count}" for rule, count in sorted(per_rule.items(), key=lambda kv: -kv[1])[:4])
            print(f"{n:>5}  {total:>6}  {wall:>6.1f}  {cpu:>6.1f}  {top}", flush=True)


if __name__ == "__main__":
    main()
