"""Each job's params hold what it reads: a setting that only an aggregate reads reruns only that aggregate."""

import re

import pytest
from wf import snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

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


def test_changing_alpha_reruns_only_the_task2vec_matrix(task2vec_run):
    workdir, cfg = task2vec_run
    assert planned(workdir, cfg) == set()
    assert planned(workdir, {**cfg, "task2vec": {**cfg["task2vec"], "alpha": 0.3}}) == MATRIX_JOB


def test_changing_what_an_embedding_reads_reruns_the_embeddings(task2vec_run):
    workdir, cfg = task2vec_run
    embeddings = {f"results/task2vec/{t}{r}.parquet" for t in ("low", "high") for r in ("", "@resample")}
    changed = planned(workdir, {**cfg, "task2vec": {**cfg["task2vec"], "beta": 0.001}})
    assert changed == embeddings | {"results/task2vec/_trivial.parquet"} | MATRIX_JOB
