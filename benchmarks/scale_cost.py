"""What a realistic experiment costs, measured: projected CPU-hours per stage for n tasks with ResNet-18.

Runs each costly job kind of the workflow once, through Snakemake as a real run would (one core, one
thread per job), on a generated image folder, then projects what ``--tasks`` (20) tasks cost at the
default settings, stage by stage, for the code of this checkout and, with ``--before``, for an older
code state run the same way beside it.

What runs: an image folder of 32x32 RGB images (``prepare_folder.make_folder``: a noise pattern per
class plus per-image noise, so the networks have something to learn), 200 images in each of the
fewest classes that give ``--tasks`` distinct 3-class tasks (6 for 20). The measured experiment is
``config.yaml`` with ``image: {size: 32, channels: 3}``, ``network: {arch: resnet18}`` (random
weights: nothing is downloaded), two of those tasks at the default 150 examples per label
(``t000``, ``t001``), one network per task (``consistency.seeds: 1``), no architecture search, the
default trained Task2Vec probe (on both tasks), 4 transfer replicates, and fixed schedules, in two
runs: 1 and then 4 epochs for the task networks and the probe (``patience: null``), 1 and then 12
for fine-tuning and training from scratch (``patience`` = ``max_epochs``, which never stops early;
more epochs there, as an epoch of 60 examples is short). Each run builds the outputs of one job per
kind: ``train_task`` (both tasks), ``train_probe``, ``fisher`` (t000's network on t001's labelled
budget, and t001's on its own train split), ``transfer`` t000 -> t001 (both settings), ``scratch``
t001, ``task2vec_embed`` t001, ``scores`` t001 and ``tanas`` t000 -> t001; their CPU seconds come
from the last line of each job's log (:func:`taskdist.report_tables.job_costs`). A job's fixed
start-up (a fresh process through Snakemake importing what its workflow script imports, then
``runtime.start`` and ``finish``) is measured for the transfer and scores jobs, 3 times each.

How each job is scaled to the default settings:

- per epoch: a job that trains costs ``a + b * epochs``; the two runs give ``a`` (start-up, data,
  final evaluation) and ``b`` (one epoch), and the default's epochs are the median
  epochs trained in the stored default run (``docs/results``: ``networks.parquet`` for the task
  networks and their seed-1 variants, the same median for the probe, whose epochs are not stored;
  ``transfer.parquet`` for fine-tuning and training from scratch), which stop early
  (``max_epochs`` 100, ``patience`` 10);
- per replicate: a transfer or scratch job is ``S + R * (c + E * e)``: start-up ``S`` (measured),
  per replicate a fixed part ``c`` (new head, linear setting, test evaluation) and ``e`` per epoch,
  from the fit over 4 replicates, projected to the default ``transfer.replicates`` (14);
- per source network: a scores job is ``S + (n - 1) * (measured - S)`` (it reads every other task's
  network; one was measured);
- as measured: Fisher (the default ``fisher.samples`` 500 exceed the 270 train examples of a task,
  and a budget is read at ``distances.target_samples`` 60), Task2Vec embeddings, TA-NAS pairs,
  datasets and task tables run at their default settings already;
- rules not run here (matrices, plots, Mantel tests, architecture search, ...) take their mean CPU-s
  per job in the stored default run (small CNN, 7 tasks), in both columns alike.

Job counts per rule are exact: ``snakemake -n`` of the default config with ``--tasks`` tasks (ids and
task-naming keys as ``plan_scale.scaled_config`` writes them) over the folder, with ResNet-18;
Fisher jobs are split into those on a network's own task (its train split) and those on another
task's labelled budget.

Assumptions (stated, not measured): ResNet-18 on the user's images converges in as many epochs as the
small CNN did on the digits of the stored default run; the user's tasks are like these (3 labels,
150 examples each, 32x32 RGB); the architecture search and the cheap aggregate jobs cost what they
cost in the stored run. Goal (issue 24): at most 40 CPU-hours in total for 20 tasks; about 164
before the speed work.

    # a code state to compare: db6440a, before the ground truth trained in channels-last layout (and after
    # the Fisher engine for torchvision backbones, issue 24's points 1, 2, 4)
    git -C . archive db6440a Snakefile rules workflow_scripts taskdist envs report config.yaml \\
        | (mkdir -p /tmp/before_code && tar -x -C /tmp/before_code)
    nice -n 5 python benchmarks/scale_cost.py --before /tmp/before_code
    python benchmarks/scale_cost.py --tasks 50 --keep /tmp/scale_cost       # keep the runs to look at

Costs about 3.5 CPU-minutes per code state (405 CPU-s and 17 minutes of wall time for two states on 2
shared cores at a load of 5-11). CPU seconds of a shared machine vary by tens of percent from one job to
the next (the same job measured twice here differs by up to 30 %): read the two columns side by side, and
the raw table of measured jobs for how far the two runs agree.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from plan_scale import scaled_config
from prepare_folder import make_folder

from taskdist.report_tables import job_costs

STORED = REPO / "docs" / "results"
"""The stored default run: its epochs and, for rules not run here, its cost per job."""
SCHEDULES = ({"train": 1, "finetune": 1}, {"train": 4, "finetune": 12})
"""Fixed schedules (epochs) of the two measured runs, for the task networks and the probe (``train``) and for
fine-tuning and training from scratch (``finetune``): their difference gives the cost of an epoch."""
RUNS = range(len(SCHEDULES))
REPLICATES = 4
"""Transfer replicates of the measured runs (each replicate of a pair: fine-tuning and the linear head)."""
STARTUP_REPEATS = 3
IMAGES_PER_CLASS = 200
"""Enough for 150 examples per label at the default pools 0.6 / 0.2 / 0.2 (each image's pool is drawn)."""
CLASSES_PER_TASK = 3
GOAL_CPU_H, ISSUE_BEFORE_CPU_H = 40, 164
"""Issue 24: the goal for 20 tasks, and its estimate before the speed work."""
SOURCE, TARGET = "t000", "t001"
MEASURED = {
    "train_task": [f"results/models/{SOURCE}.pt", f"results/models/{TARGET}.pt"],
    "train_probe": ["results/task2vec/_probe.pt"],
    "fisher": [f"results/fisher/{SOURCE}/{TARGET}.parquet", f"results/fisher/{TARGET}/{TARGET}.parquet"],
    "transfer": [f"results/transfer/{SOURCE}/{TARGET}.json"],
    "scratch": [f"results/transfer/_scratch/{TARGET}.json"],
    "task2vec_embed": [f"results/task2vec/{TARGET}.parquet"],
    "scores": [f"results/scores/{TARGET}.parquet"],
    "tanas": [f"results/tanas/{SOURCE}/{TARGET}.json"],
}
"""The outputs each measured run builds, by the rule whose job makes them (what they need runs too)."""
MEASURED_JOBS = [("train_task", SOURCE), ("train_task", TARGET), ("train_probe", ""), ("fisher", f"{SOURCE}/{TARGET}"),
                 ("fisher", f"{TARGET}/{TARGET}"), ("transfer", f"{SOURCE}/{TARGET}"), ("scratch", TARGET),
                 ("task2vec_embed", TARGET), ("scores", TARGET), ("tanas", f"{SOURCE}/{TARGET}")]
"""The measured jobs, as (rule, job) in :func:`taskdist.report_tables.job_costs`."""
STARTUP_KINDS = {"transfer": "transfer", "scores": "scores"}
"""Start-up probes: name -> the workflow script whose imports the probe job loads."""


# ------------------------------------------------------------------------------------------------ the runs


def class_count(n_tasks: int) -> int:
    """The fewest classes (at least 4) with ``n_tasks`` distinct 3-class subsets."""
    k = 4
    while math.comb(k, CLASSES_PER_TASK) < n_tasks:
        k += 1
    return k


def task_classes(n_tasks: int) -> list[list[str]]:
    """The classes of tasks t000, t001, ...: the first ``n_tasks`` 3-class subsets of the folder, by name."""
    subsets = itertools.combinations(range(class_count(n_tasks)), CLASSES_PER_TASK)
    return [[f"c{c:03d}" for c in subset] for subset in itertools.islice(subsets, n_tasks)]


def folder_overlay(cfg: dict, folder: Path, classes: list[list[str]]) -> dict:
    """``cfg`` over the image folder with ResNet-18: tasks t000, t001, ... with ``classes``, default sizes."""
    return {
        **cfg,
        "image": {"size": 32, "channels": 3},
        "datasets": {"images": {"folder": str(folder)}},
        "tasks": [{"id": f"t{i:03d}", "dataset": "images", "classes": c} for i, c in enumerate(classes)],
        "network": {"arch": "resnet18"},
    }


def measured_config(code: Path, folder: Path, schedule: dict[str, int]) -> dict:
    """The measured experiment: ``code``'s config.yaml, two tasks, fixed schedules (:data:`SCHEDULES`)."""
    cfg = folder_overlay(yaml.safe_load((code / "config.yaml").read_text()), folder, task_classes(2))
    cfg["train"] = {**cfg["train"], "max_epochs": schedule["train"], "patience": None}
    # Fine-tuning takes no fixed schedule: a patience of max_epochs never stops it before max_epochs.
    epochs = schedule["finetune"]
    finetune = {**cfg["transfer"]["finetune"], "max_epochs": epochs, "patience": epochs}
    cfg["transfer"] = {**cfg["transfer"], "replicates": REPLICATES, "finetune": finetune}
    cfg["task2vec"] = {**cfg["task2vec"], "probe": {"kind": "trained", "tasks": [SOURCE, TARGET]}}
    cfg["consistency"] = {**cfg["consistency"], "seeds": 1}
    cfg["nas"] = {**cfg["nas"], "base_tasks": [], "targets": []}
    return cfg


def snakemake(code: Path, workdir: Path, args: list[str], snakefile: Path | None = None, check: bool = True) -> str:
    """Run Snakemake on ``code``'s workflow (its taskdist first on the path) in ``workdir``; its output.
    With ``check``, a run that fails raises, with the end of its output."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile or code / "Snakefile"), "-d", str(workdir),
           "--cores", "1", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"snakemake failed in {workdir}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def measure(code: Path, workdir: Path, folder: Path, schedule: dict[str, int]) -> pd.DataFrame:
    """One measured run of ``code`` with fixed schedules: the costs of every finished job.

    Runs in ``workdir`` with every measured rule forced (a second run reuses the datasets and task tables);
    a job that fails is left out of the costs (its log keeps the error), the others still run."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(measured_config(code, folder, schedule), sort_keys=False))
    targets = [path for paths in MEASURED.values() for path in paths]
    output = snakemake(code, workdir, [*targets, "--keep-going", "--forcerun", *MEASURED], check=False)
    costs = job_costs(workdir / "logs")
    if not costs["rule"].isin(list(MEASURED)).any():
        raise RuntimeError(f"no measured job finished in {workdir}:\n{output[-3000:]}")
    return costs


def script_imports(code: Path, script: str) -> str:
    """The module-level imports of ``code``'s ``workflow_scripts/{script}.py``: what its job loads first."""
    tree = ast.parse((code / "workflow_scripts" / f"{script}.py").read_text())
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))


def measure_startup(code: Path, workdir: Path) -> dict[str, float]:
    """The fixed CPU-s of a job of each :data:`STARTUP_KINDS` kind, median of :data:`STARTUP_REPEATS` jobs.

    Each is a Snakemake job like the workflow's (a script job, one thread) whose script imports what the
    kind's workflow script imports, calls ``runtime.start`` (torch, the device) and ``finish``: everything a
    job pays besides reading its inputs and its work."""
    rules = []
    for name, script in STARTUP_KINDS.items():
        body = f"{script_imports(code, script)}\nfrom taskdist import runtime\n\n"
        body += "device = runtime.start(snakemake, torch=True)\n"
        body += "open(snakemake.output[0], 'w').close()\nruntime.finish()\n"
        (workdir / f"startup_{name}.py").write_text(body)
        rules.append(f'rule startup_{name}:\n    output: "startup/{name}/{{rep}}.done"\n'
                     f'    log: "logs/startup_{name}/{{rep}}.log"\n    threads: 1\n'
                     f'    params: device="cpu"\n    script: "startup_{name}.py"\n')
    (workdir / "startup.smk").write_text("\n\n".join(rules))
    targets = [f"startup/{name}/{rep}.done" for rep in range(STARTUP_REPEATS) for name in STARTUP_KINDS]
    snakemake(code, workdir, targets, snakefile=workdir / "startup.smk")
    costs = job_costs(workdir / "logs")
    return {name: float(costs.loc[costs["rule"] == f"startup_{name}", "cpu_s"].median()) for name in STARTUP_KINDS}


def plan_jobs(folder: Path, n_tasks: int, workdir: Path) -> tuple[dict[str, int], int]:
    """Jobs per rule that ``snakemake -n`` plans for the default config with ``n_tasks`` tasks over the folder
    (ResNet-18), with ``fisher`` split into ``fisher (own data)`` and ``fisher (budget)``; and the total."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = folder_overlay(scaled_config(n_tasks), folder, task_classes(n_tasks))
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    text = snakemake(REPO, workdir, ["-n"])
    stats = text[text.rindex("Job stats:"):]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, flags=re.M)}
    total = jobs.pop("total") - jobs.pop("all", 0)
    # A Fisher job on its network's own task reads that task's train split; on another task, its budget.
    own = sum(net.split("@")[0] == data for net, data in
              re.findall(r"rule fisher:\n(?:\s+\w+: .*\n)*?\s+wildcards: net=([^,\s]+), data=(\S+)", text))
    jobs["fisher (own data)"], jobs["fisher (budget)"] = own, jobs.pop("fisher") - own
    return jobs, total


# ------------------------------------------------------------------------------------------------ projection


@dataclass
class StoredRun:
    """What the projection reads of the stored default run."""

    epochs: dict[str, float]  # median epochs: train_task, train_variant, train_probe, finetune, scratch
    cost_per_job: dict[str, float]  # mean CPU-s per job of each rule

    @classmethod
    def read(cls, folder: Path) -> StoredRun:
        nets = pd.read_parquet(folder / "networks.parquet")
        seed = nets["task"].str.contains("@seed")
        truth = pd.read_parquet(folder / "transfer.parquet")
        finetune = truth.loc[truth["setting"] == "finetune", "epochs"]
        scratch = truth.drop_duplicates(["target", "replicate"])["scratch_epochs"]
        task = float(nets.loc[~seed, "epochs"].median())
        epochs = {"train_task": task, "train_variant": float(nets.loc[seed, "epochs"].median()),
                  "train_probe": task, "finetune": float(finetune.median()), "scratch": float(scratch.median())}
        costs = pd.read_parquet(folder / "costs.parquet").groupby("rule")["cpu_s"].mean()
        return cls(epochs, {rule: float(v) for rule, v in costs.items()})


@dataclass
class Measured:
    """One code state's measurements: job costs of each run of :data:`SCHEDULES`, start-up CPU-s."""

    runs: dict[int, pd.DataFrame]
    startup: dict[str, float]

    def job(self, rule: str, job: str, run: int) -> float:
        """CPU-s of one job of run ``run`` (nan when it did not finish)."""
        costs = self.runs[run]
        hit = costs.loc[(costs["rule"] == rule) & (costs["job"] == job), "cpu_s"]
        return float(hit.iloc[0]) if len(hit) else math.nan

    def mean_job(self, rule: str, job: str) -> float:
        """A job that does not depend on the schedule: the mean over both runs."""
        return statistics.fmean(self.job(rule, job, run) for run in RUNS)

    def fit(self, rule: str, jobs: list[str], schedule: str) -> tuple[float, float]:
        """``(a, b)`` of CPU-s = a + b * epochs for the mean of ``jobs``, from the two runs' ``schedule``."""
        (lo, hi), (e1, e2) = self.means(rule, jobs), (s[schedule] for s in SCHEDULES)
        slope = (hi - lo) / (e2 - e1)
        return lo - slope * e1, slope

    def means(self, rule: str, jobs: list[str]) -> list[float]:
        """The mean CPU-s of ``jobs`` in each run."""
        return [statistics.fmean(self.job(rule, j, run) for j in jobs) for run in RUNS]


@dataclass
class Row:
    stage: str
    jobs: int
    measured: str  # what was measured of the one job (CPU-s)
    how: str  # how it is scaled, and why
    per_job: float  # projected CPU-s per job, this code
    per_job_before: float | None = None  # the same for the code before


def _runs_text(m: Measured, rule: str, jobs: list[str], schedule: str) -> str:
    """The mean CPU-s of ``jobs`` in each run, and the runs' epochs."""
    epochs = "/".join(str(s[schedule]) for s in SCHEDULES)
    return " / ".join(f"{value:.1f}" for value in m.means(rule, jobs)) + f" (E={epochs})"


def project(m: Measured, stored: StoredRun, n_tasks: int, replicates: int) -> dict[str, tuple[float, str, str]]:
    """Per measured stage: (projected CPU-s per job, what was measured, how it was scaled)."""
    out = {}
    for stage, jobs in (("train_task", [SOURCE, TARGET]), ("train_variant", [SOURCE, TARGET]), ("train_probe", [""])):
        rule = "train_task" if stage == "train_variant" else stage
        a, b = m.fit(rule, jobs, "train")
        epochs = stored.epochs[stage]
        measured = _runs_text(m, rule, jobs, "train")
        source = {"train_variant": "as train_task; ", "train_probe": "task networks' median epochs; "}.get(stage, "")
        out[stage] = (a + b * epochs, measured, f"{source}{a:.1f} + {b:.2f}/epoch x {epochs:g} epochs")
    for stage, job, key in (("transfer", f"{SOURCE}/{TARGET}", "finetune"), ("scratch", TARGET, "scratch")):
        a, b = m.fit(stage, [job], "finetune")
        start = m.startup["transfer"]
        fixed, per_epoch = max(a - start, 0.0) / REPLICATES, b / REPLICATES
        epochs = stored.epochs[key]
        out[stage] = (start + replicates * (fixed + epochs * per_epoch),
                      f"{_runs_text(m, stage, [job], 'finetune')}, {REPLICATES} reps",
                      f"{start:.1f} + {replicates} reps x ({fixed:.2f} + {per_epoch:.3f}/epoch x {epochs:g} epochs)")
    fisher = {"fisher (own data)": f"{TARGET}/{TARGET}", "fisher (budget)": f"{SOURCE}/{TARGET}"}
    for stage, job in fisher.items():
        value = m.mean_job("fisher", job)
        out[stage] = (value, f"{value:.1f}", "as measured (default samples)")
    for stage, job in (("task2vec_embed", TARGET), ("tanas", f"{SOURCE}/{TARGET}")):
        value = m.mean_job(stage, job)
        out[stage] = (value, f"{value:.1f}", "as measured (default settings)")
    value, start = m.mean_job("scores", TARGET), m.startup["scores"]
    out["scores"] = (start + (n_tasks - 1) * (value - start), f"{value:.1f} (1 source)",
                     f"{start:.1f} + {n_tasks - 1} sources x {value - start:.2f}")
    for stage in ("prepare_dataset", "make_task"):
        costs = m.runs[0]
        values = costs.loc[costs["rule"] == stage, "cpu_s"]
        out[stage] = (float(values.mean()), f"{values.mean():.1f} (mean of {len(values)})", "as measured")
    return out


def table(counts: dict[str, int], stored: StoredRun, after: dict, before: dict | None) -> list[Row]:
    """A row per stage of the planned run: the measured ones projected, the others from the stored run."""
    rows = []
    for stage, jobs in counts.items():
        if stage in after:
            per_job, measured, how = after[stage]
            rows.append(Row(stage, jobs, measured, how, per_job, before[stage][0] if before else None))
        else:
            value = stored.cost_per_job.get(stage, math.nan)
            rows.append(Row(stage, jobs, "-", "stored default run, mean per job", value, value if before else None))
    return sorted(rows, key=lambda r: -r.jobs * r.per_job)


def render(rows: list[Row], with_before: bool) -> str:
    """The table in Markdown, with the total."""
    head = ["stage (rule)", "jobs", "measured CPU-s (one job)", "scaled CPU-s per job = ...", "CPU-h"]
    if with_before:
        head += ["CPU-s per job before", "CPU-h before"]
    lines = ["| " + " | ".join(head) + " |", "| --- | ---: | ---: | --- | ---: |" + (" ---: | ---: |" * with_before)]
    for r in rows:
        cells = [r.stage, str(r.jobs), r.measured, f"{r.per_job:.1f} = {r.how}", f"{r.jobs * r.per_job / 3600:.2f}"]
        if with_before:
            cells += [f"{r.per_job_before:.1f}", f"{r.jobs * r.per_job_before / 3600:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    total = sum(r.jobs * r.per_job for r in rows) / 3600
    cells = ["**total**", str(sum(r.jobs for r in rows)), "", "", f"**{total:.1f}**"]
    if with_before:
        cells += ["", f"**{sum(r.jobs * r.per_job_before for r in rows) / 3600:.1f}**"]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def machine() -> str:
    """CPU model, cores, Python and torch versions."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {version('torch')}"


def describe(code: Path) -> str:
    """``code`` and its commit, when it is a git checkout."""
    proc = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{code} ({proc.stdout.strip()})" if proc.returncode == 0 else str(code)


def failures(workdir: Path, m: Measured) -> list[str]:
    """The measured jobs that did not finish in some run, with the last lines of their logs."""
    out = []
    for rule, job in MEASURED_JOBS:
        if any(math.isnan(m.job(rule, job, run)) for run in RUNS):
            log = workdir / "logs" / rule / f"{job}.log" if job else workdir / "logs" / f"{rule}.log"
            tail = log.read_text(errors="replace").splitlines()[-6:] if log.exists() else ["(no log)"]
            out.append(f"{rule} {job}: did not finish; {log}:\n    " + "\n    ".join(tail))
    return out


def output_mb(workdir: Path) -> dict[str, float]:
    """MB of what each measured rule's job wrote in ``workdir`` (the mean where it wrote several), by stage."""
    sizes = {rule: statistics.fmean((workdir / path).stat().st_size / 1e6 for path in paths)
             for rule, paths in MEASURED.items() if all((workdir / path).is_file() for path in paths)}
    aliases = {"train_variant": "train_task", "fisher (own data)": "fisher", "fisher (budget)": "fisher"}
    return sizes | {stage: sizes[rule] for stage, rule in aliases.items() if rule in sizes}


def raw(measured: dict[str, Measured]) -> str:
    """Every measured job's CPU-s in each run, per code state (Markdown)."""
    names = list(measured)
    head = ["rule", "job"] + [f"{name}, run {run + 1}" for name in names for run in RUNS]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for rule, job in MEASURED_JOBS:
        cells = [f"{measured[name].job(rule, job, run):.2f}" for name in names for run in RUNS]
        lines.append("| " + " | ".join([rule, job or "-", *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20, help="tasks of the projected experiment")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("--before", type=Path, help="a code state (Snakefile, rules/, workflow_scripts/, taskdist/, "
                        "config.yaml) to measure the same way, beside this checkout")
    args = parser.parse_args(argv)
    if args.tasks < 7:  # plan_scale names the default config's 7 tasks in the probe and search keys
        parser.error("--tasks must be at least 7 (fewer would repeat task ids in task2vec.probe and nas)")
    states = {"after": REPO} | ({"before": args.before.resolve()} if args.before else {})
    for code in states.values():
        if not (code / "Snakefile").is_file():
            parser.error(f"{code} has no Snakefile")
    start_wall, load_before = time.perf_counter(), os.getloadavg()
    print(f"# scale_cost: {args.tasks} tasks, ResNet-18 (random weights), 32x32 RGB, {CLASSES_PER_TASK}-label tasks")
    print(f"machine: {machine()}")
    print(f"load average before (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load_before)}")
    for name, code in states.items():
        print(f"code {name}: {describe(code)}")
    stored = StoredRun.read(STORED)
    print("default epochs (medians of the stored default run, docs/results; early stopping, patience 10): "
          + ", ".join(f"{k} {v:g}" for k, v in stored.epochs.items()))
    print("assumption: ResNet-18 on the user's images converges in as many epochs as the small CNN did on the "
          "stored run's digits (not measured)", flush=True)

    with tempfile.TemporaryDirectory(prefix="scale_cost_") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        folder = root / "images"
        if not folder.exists():
            make_folder(folder, class_count(args.tasks), IMAGES_PER_CLASS)
        counts, total_jobs = plan_jobs(folder, args.tasks, root / "plan")
        print(f"folder: {class_count(args.tasks)} classes x {IMAGES_PER_CLASS} images; planned run of "
              f"{args.tasks} tasks: {total_jobs} jobs (snakemake -n, this checkout)", flush=True)
        runs: dict[str, dict[int, pd.DataFrame]] = {name: {} for name in states}
        for run, schedule in enumerate(SCHEDULES):  # the code states alternate: a busy spell hits both
            for name, code in states.items():
                t0 = time.perf_counter()
                runs[name][run] = measure(code, root / name, folder, schedule)
                print(f"measured {name}, run {run + 1} (epochs {schedule}): {time.perf_counter() - t0:.0f} s wall, "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        measured = {name: Measured(runs[name], measure_startup(code, root / name)) for name, code in states.items()}
        problems = [p for name in states for p in failures(root / name, measured[name])]
        sizes = output_mb(root / "after")

    replicates = yaml.safe_load((REPO / "config.yaml").read_text())["transfer"]["replicates"]
    projected = {name: project(m, stored, args.tasks, replicates) for name, m in measured.items()}
    rows = table(counts, stored, projected["after"], projected.get("before"))
    print("start-up CPU-s of a job (median of 3): " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in m.startup.items()) for name, m in measured.items()))
    schedules = ", ".join(f"run {run + 1} {schedule}" for run, schedule in enumerate(SCHEDULES))
    print(f"\nmeasured jobs, CPU-s ({REPLICATES} transfer replicates; epochs: {schedules})")
    print(raw(measured))
    print()
    print(render(rows, "before" in states))
    print()
    after_total = sum(r.jobs * r.per_job for r in rows) / 3600
    print(f"projected total: {after_total:.1f} CPU-hours for {args.tasks} tasks (goal <= {GOAL_CPU_H}; issue 24's "
          f"estimate before the speed work: about {ISSUE_BEFORE_CPU_H})")
    if "before" in states:
        before_total = sum(r.jobs * r.per_job_before for r in rows) / 3600
        print(f"the same projection with the code before ({states['before']}): {before_total:.1f} CPU-hours")
    print("Measured jobs are the 'after' runs' (the column 'measured' shows both runs of those that train); stages "
          "without one are the stored default run's mean per job (small CNN), the same in both columns. The dry "
          "run's checkpoint jobs (architecture search) may add jobs when they run.")
    disk = {stage: jobs * sizes[stage] / 1e3 for stage, jobs in counts.items() if stage in sizes}
    big = ", ".join(f"{stage} {gb:.1f} GB ({sizes[stage]:.0f} MB per job)" for stage, gb in
                    sorted(disk.items(), key=lambda kv: -kv[1]) if gb >= 0.1)
    print(f"disk: the measured stages' outputs for {args.tasks} tasks take about {sum(disk.values()):.0f} GB: {big}")
    for problem in problems:
        print(f"problem: {problem}")
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    print(f"load average after (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"benchmark: {time.perf_counter() - start_wall:.0f} s wall, {cpu:.0f} CPU-s (this process and every "
          f"Snakemake run and job)")


if __name__ == "__main__":
    main()
