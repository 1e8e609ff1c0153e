"""A relabelled copy of a task (same classes, another label order, another draw) is its nearest task.

In-process on scikit-learn's real 8x8 digits, through the same stage functions the
workflow's jobs call: every method meant to compare tasks must put the copy nearer
to the task than any task with other classes.
"""

import numpy as np
import pytest
import torch

from taskdist import stages
from taskdist.artifacts import vectors
from taskdist.config import SplitSpec
from taskdist.data import datasets, tasks
from taskdist.methods import distances, task2vec
from taskdist.seeds import stable_seed
from taskdist.specs import ArchSpec, FisherSpec, ImageSpec, LinearSpec, TaskSpec, TrainSpec

CPU = torch.device("cpu")
SPLIT = SplitSpec(0.6, 0.2, 0.2)
TASKS = {  # id -> classes in label order
    "low": (0, 1, 2, 3, 4),
    "low_relabelled": (4, 2, 0, 3, 1),
    "high": (5, 6, 7, 8, 9),
    "mid": (2, 3, 4, 5, 6),
}


@pytest.fixture(scope="module")
def digits():
    dataset = datasets.load("digits", ImageSpec(size=8, channels=1), split=SPLIT, seed=0)
    specs = {
        tid: TaskSpec(id=tid, dataset="digits", label_map=tuple((c,) for c in classes),
                      label_names=tuple(map(str, classes)), samples_per_class=100, split=SPLIT,
                      seed=stable_seed(0, "task", tid))
        for tid, classes in TASKS.items()
    }
    tables = {tid: tasks.materialize(spec, dataset.labels, dataset.pool) for tid, spec in specs.items()}
    return dataset, specs, tables


@pytest.fixture(scope="module")
def networks(digits, one_thread):
    dataset, specs, tables = digits
    arch = ArchSpec(widths=(16,), convs_per_stage=1, pool=2, hidden=32)
    train = TrainSpec(max_epochs=15, patience=None, batch_size=32, lr=0.003, weight_decay=0.0)
    return {tid: stages.train_task(specs[tid], dataset, tables[tid], arch, train, CPU) for tid in ("low", "high")}


def test_the_relabelled_copy_is_nearest_under_ftd(digits, networks):
    dataset, specs, tables = digits
    spec = FisherSpec(estimator="exact", granularity="parameter", mc_samples=1, samples=500, batch_size=128,
                      head=LinearSpec(l2=0.1, max_iter=1000, tol=1e-6))

    def vector(net, data_task):
        fisher = stages.pair_fisher(networks[net], specs[data_task], dataset, tables[data_task], None, spec, seed=1,
                                    device=CPU)  # no labelled budget: the whole train split
        return vectors.flat(fisher)

    for source in networks:
        own = vector(source, source)
        d = {t: distances.fisher_task_distance(own, vector(source, t)) for t in TASKS if t != source}
        if source == "low":  # nearest, and well below the tasks with other classes (the noise floor is small)
            assert d["low_relabelled"] < 0.5 * min(d["high"], d["mid"]), d
        else:  # from another task, the copy and the task are equally far: the copy is the task
            assert abs(d["low"] - d["low_relabelled"]) < 0.5 * min(d["low"], d["mid"]), d


def test_the_relabelled_copy_is_nearest_under_task2vec(digits, networks):
    dataset, specs, tables = digits
    probe = networks["high"]  # a probe trained on other classes than the compared tasks
    from taskdist.artifacts.checkpoint import load_network

    net = load_network(probe, CPU)
    embeddings = {}
    for tid in TASKS:
        x, y = tasks.arrays(dataset, tables[tid], "train")
        embeddings[tid] = task2vec.embed(
            net, x, y, specs[tid].n_classes, estimator="mc", head_epochs=10, head_lr=4e-4, batch_size=64, samples=None,
            beta=1e-7, seed=3,
        )
    sym, _ = distances.task2vec_matrices(embeddings, None)
    row = sym[(sym["source"] == "low") & (sym["target"] != "low")].set_index("target")["value"]
    assert row.idxmin() == "low_relabelled", row.to_dict()
    assert np.isfinite(row).all()
