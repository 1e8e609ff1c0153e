"""Each job's params hold what it reads: a setting that only an aggregate reads reruns only that aggregate; and
params stay byte-identical where the computation does not change, so that earlier runs' results are reused."""

import re
import subprocess
import sys

import pytest
from wf import REPO, snakemake, tiny_config, write_config

TARGET = "results/distances/task2vec.parquet"
MATRIX_JOB = {  # what rule task2vec_matrix writes
    "results/distances/task2vec.parquet",
    "results/distances/task2vec_asym.parquet",
    "results/floors/task2vec.parquet",
    "results/floors/task2vec_asym.parquet",
}


def planned(workdir, cfg) -> set[str]:
    """Outputs a dry run to the Task2Vec matrix plans under ``cfg``."""
    write_config(workdir, cfg)
    proc = snakemake(workdir, "-n", "--cores", "1", TARGET)
    blocks = re.findall(r"^\s*output: (.+)$", proc.stdout + proc.stderr, flags=re.M)
    return {p.strip() for block in blocks for p in block.split(",")}


@pytest.fixture(scope="module")
def task2vec_run(tmp_path_factory):
    """The tiny config's first two tasks with Task2Vec only, run to its matrix: the probe, the embeddings of the
    tasks and of their resamples."""
    cfg = tiny_config()
    cfg["tasks"] = cfg["tasks"][:2]  # low, high
    cfg["distances"]["methods"] = ["task2vec", "task2vec_asym"]
    cfg["task2vec"] = {"probe": {"kind": "trained", "tasks": ["low"]}, "samples": 30, "head": {"epochs": 2}}
    cfg["nas"] = {"targets": []}
    workdir = tmp_path_factory.mktemp("task2vec")
    write_config(workdir, cfg)
    snakemake(workdir, "--cores", "2", TARGET)
    return workdir, cfg


@pytest.mark.workflow
def test_changing_alpha_reruns_only_the_task2vec_matrix(task2vec_run):
    workdir, cfg = task2vec_run
    assert planned(workdir, cfg) == set()
    assert planned(workdir, {**cfg, "task2vec": {**cfg["task2vec"], "alpha": 0.3}}) == MATRIX_JOB


@pytest.mark.workflow
def test_changing_what_an_embedding_reads_reruns_the_embeddings(task2vec_run):
    workdir, cfg = task2vec_run
    embeddings = {f"results/task2vec/{t}{r}.parquet" for t in ("low", "high") for r in ("", "@resample")}
    changed = planned(workdir, {**cfg, "task2vec": {**cfg["task2vec"], "beta": 0.001}})
    assert changed == embeddings | {"results/task2vec/_trivial.parquet"} | MATRIX_JOB


# The params of jobs that read a target's labelled budget, under the tiny config, as the workflow built them before
# the budget had a spec (taskdist.specs.BudgetSpec) and a module (taskdist.data.budget) of its own, plus what changed
# since on purpose (the budget's method_samples, distances.target_samples; the ground truth's version 4, which
# the draw's own version, taskdist.data.budget.VERSION, continues; the scores' version 4): Snakemake
# compares the repr of each param, so a changed key, value or key order would recompute every such job of earlier
# runs.
LOW = {"id": "low", "dataset": "digits", "label_map": ((0,), (1,), (2,)), "label_names": ("0", "1", "2"),
       "samples_per_class": 20, "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 515900642}
HIGH = {"id": "high", "dataset": "digits", "label_map": ((7,), (8,), (9,)), "label_names": ("7", "8", "9"),
        "samples_per_class": 20, "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 1720300617}
FISHER = {"estimator": "exact", "granularity": "parameter", "mc_samples": 1, "samples": 30, "batch_size": 16,
          "head": {"l2": 0.1, "max_iter": 100, "tol": 1e-06}}
EXPECTED_PARAMS = {
    ("fisher", (("net", "low"), ("data", "high"))): {
        "data_task": HIGH, "fisher": FISHER,
        "labelled": {"samples_per_class": 6, "holdout_per_class": 3, "seed": 167615429, "method_samples": None,
                     "version": 4},
        "seed": 739941944, "version": 3},
    ("fisher", (("net", "low"), ("data", "low"))): {  # a network on its own task: no budget, the train split
        "data_task": LOW, "fisher": FISHER, "labelled": None, "seed": 74274376, "version": 3},
    ("scores", (("target", "low"),)): {
        "labelled": {"task": {"samples_per_class": 6, "holdout_per_class": 3, "seed": 1079734668,
                              "method_samples": None, "version": 4},
                     "resample": {"samples_per_class": 6, "holdout_per_class": 3, "seed": 93538797,
                                  "method_samples": None, "version": 4}},
        "version": 4},
}

# Loads the workflow (no DAG, no job) and prints the repr of the params a rule's job gets for some wildcards.
_PRINT_PARAMS = """
import ast, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.iocontainers import Wildcards
from snakemake.settings.types import OutputSettings, ResourceSettings
repo, workdir, jobs = Path(sys.argv[1]), Path(sys.argv[2]), ast.literal_eval(sys.argv[3])
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=repo / "Snakefile",
                            workdir=workdir)._workflow
    for rule, wildcards in jobs:
        print(repr(workflow.get_rule(rule).params.spec(Wildcards(fromdict=dict(wildcards)))))
"""


def test_jobs_reading_a_labelled_budget_keep_their_params(tmp_path):
    """A Fisher job on another task's data, one on its own task's, and a scores job: the params (their repr,
    what Snakemake compares) of the tiny config's jobs are those of the runs before the labelled budget's spec."""
    write_config(tmp_path, tiny_config())
    jobs = list(EXPECTED_PARAMS)
    proc = subprocess.run([sys.executable, "-c", _PRINT_PARAMS, str(REPO), str(tmp_path), repr(jobs)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == len(jobs), proc.stdout
    for job, line in zip(jobs, printed, strict=True):
        assert line == repr(EXPECTED_PARAMS[job]), job
