"""The notebook API (taskdist.api) gives the workflow's numbers for the same inputs.

Each call is compared with the stage functions the workflow's jobs call, on the same data and seeds (the tiny
config's tasks on scikit-learn's digits, its small CNN): the API reads tensors, a Dataset or a DataLoader where
the stages read a dataset file and a task table. Then the input errors, and the README's "From a notebook"
examples, run as they are written.
"""

from __future__ import annotations

import itertools
import re
import sys
import tempfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from wf import REPO

import taskdist
from taskdist import api, stages
from taskdist.artifacts import checkpoint, vectors
from taskdist.config import defaults, load
from taskdist.data import datasets, tasks
from taskdist.data.budget import method_examples
from taskdist.methods import distances, task2vec
from taskdist.seeds import stable_seed
from taskdist.specs import FisherSpec, HeadSpec, ProbeSpec, from_params

CPU = torch.device("cpu")
EXP = load(REPO / "tests" / "workflow" / "tiny.yaml")
TASKS = list(EXP.tasks)  # low, high, parity
TOL = 1e-6


def budget(tid):
    """The labelled budget the workflow's distances read of a target (rules/common.smk ``budget_params``)."""
    return EXP.transfer.labelled_budget(stable_seed(EXP.seed, "transfer", tid))


@pytest.fixture(scope="module")
def digits(one_thread):
    ds = EXP.datasets["digits"]
    dataset = datasets.load(ds.name, EXP.image, split=ds.split, seed=EXP.seed)
    tables = {tid: tasks.materialize(spec, dataset.labels, dataset.pool) for tid, spec in EXP.tasks.items()}
    return dataset, tables


@pytest.fixture(scope="module")
def nets(digits):
    """The checkpoints of rule train_task."""
    dataset, tables = digits
    return {tid: stages.train_task(EXP.tasks[tid], dataset, tables[tid], EXP.network, EXP.train, CPU) for tid in TASKS}


def own(digits, tid):
    """A task's train split: what its network's own Fisher reads."""
    dataset, tables = digits
    return tasks.arrays(dataset, tables[tid], "train")


def labelled(digits, tid):
    """A target's labelled examples: what the distances and scores read of it."""
    dataset, tables = digits
    return tasks.arrays(dataset, method_examples(tables[tid], budget(tid)), "train")


def workflow_ftd(digits, nets, spec):
    """Rules fisher (every ordered pair, own pairs included) and ftd_matrix, in-process."""
    dataset, tables = digits
    flat = {}
    for net, data in itertools.product(TASKS, TASKS):
        values = stages.pair_fisher(nets[net], EXP.tasks[data], dataset, tables[data], None if net == data else
                                    budget(data), spec, stable_seed(EXP.seed, "fisher", net, data), CPU)
        flat[(net, data)] = vectors.flat(values)
    matrix = distances.ftd_matrix(flat, TASKS)
    return {(s, t): v for s, t, v in zip(matrix["source"], matrix["target"], matrix["value"], strict=True)}


# -- the workflow's values ------------------------------------------------------------------------------------------


def test_fisher_task_distance_is_the_workflows(digits, nets):
    expected = workflow_ftd(digits, nets, EXP.fisher)
    for a, b in itertools.permutations(TASKS, 2):
        net = checkpoint.load_network(nets[a], CPU)
        got = api.fisher_task_distance(net, own(digits, a), labelled(digits, b), settings=EXP.fisher, seed=EXP.seed,
                                       names=(a, b))
        assert abs(got - expected[(a, b)]) < TOL, (a, b, got, expected[(a, b)])
        assert 0 < got <= 1


def test_fisher_task_distance_defaults_to_the_schemas_settings_and_reads_any_form_of_data(digits, nets, tmp_path):
    dataset, tables = digits
    spec = from_params(FisherSpec, defaults("fisher"))
    a, b = "low", "parity"
    f_own = stages.pair_fisher(nets[a], EXP.tasks[a], dataset, tables[a], None, spec, stable_seed(3, "fisher", a, a),
                               CPU)
    f_other = stages.pair_fisher(nets[a], EXP.tasks[b], dataset, tables[b], budget(b), spec,
                                 stable_seed(3, "fisher", a, b), CPU)
    expected = distances.fisher_task_distance(vectors.flat(f_own), vectors.flat(f_other))
    path = tmp_path / f"{a}.pt"
    checkpoint.write(nets[a], path)
    x, y = labelled(digits, b)
    forms = {"tensors": (x, y), "numpy": (x.numpy(), y.numpy()), "Dataset": TensorDataset(x, y),
             "DataLoader": DataLoader(TensorDataset(x, y), batch_size=7)}
    for form, target in forms.items():
        got = api.fisher_task_distance(path, own(digits, a), target, seed=3, names=(a, b))
        assert abs(got - expected) < TOL, form
    fisher = api.fisher(path, (x, y), seed=stable_seed(3, "fisher", a, b))
    assert fisher.keys() == f_other.keys() and all(np.allclose(fisher[k], f_other[k], rtol=0, atol=TOL * 1e-3)
                                                   for k in fisher)
    assert taskdist.fisher_task_distance is api.fisher_task_distance, "exported by the package, lazily"


def test_scores_are_the_workflows(digits, nets):
    dataset, tables = digits
    target = "parity"
    sources = {s: nets[s] for s in TASKS if s != target}
    table = stages.target_scores(sources, dataset, {"task": tables[target]}, {"task": budget(target)}, CPU)
    for source in sources:
        got = api.scores(checkpoint.load_network(nets[source], CPU), labelled(digits, target))
        rows = table[table["source"] == source]
        expected = dict(zip(rows["method"], rows["value"], strict=True))
        assert got.keys() == expected.keys() == {"leep", "logme", "nce", "h_score"}
        assert all(abs(got[m] - expected[m]) < TOL for m in got), (got, expected)


def test_task2vec_is_the_workflows(digits, nets, tmp_path):
    dataset, tables = digits
    t2v = defaults("task2vec")
    settings = {"samples": 40}
    path = tmp_path / "_probe.pt"
    checkpoint.write(nets["high"], path)  # a probe: any network with a body and a head
    probe = stages.task2vec_probe(ProbeSpec("trained", None, None), dataset.images.shape[1], [str(path)])
    embeddings = {
        tid: stages.task2vec_embedding(probe, EXP.tasks[tid], dataset, tables[tid], budget(tid),
                                       estimator=t2v["estimator"], head=from_params(HeadSpec, t2v["head"]),
                                       samples=40, beta=t2v["beta"], seed=stable_seed(EXP.seed, "task2vec", tid),
                                       device=CPU)
        for tid in TASKS}
    trivial = task2vec.trivial_embedding(probe, estimator=t2v["estimator"], beta=t2v["beta"])
    sym, asym = distances.task2vec_matrices(embeddings, trivial, t2v["alpha"])  # as aggregates.task2vec does

    got = api.task2vec({tid: labelled(digits, tid) for tid in TASKS}, path, settings=settings, seed=EXP.seed)
    for tid in TASKS:
        assert all(np.allclose(got.embeddings[tid][k], v, rtol=TOL, atol=0) for k, v in embeddings[tid].items())
    for square, long in ((got.symmetric, sym), (got.asymmetric, asym)):
        assert list(square.index) == list(square.columns) == TASKS
        for s, t, v in zip(long["source"], long["target"], long["value"], strict=True):
            assert abs(square.loc[s, t] - v) < TOL, (s, t)
    assert np.allclose(got.symmetric, got.symmetric.T)


def test_rank_sources_orders_the_workflows_values(digits, nets, tmp_path):
    target = "parity"
    paths = {s: tmp_path / f"{s}.pt" for s in TASKS if s != target}
    for s, path in paths.items():
        checkpoint.write(nets[s], path)
    data = labelled(digits, target)

    leep = api.rank_sources(list(paths.values()), data, "leep")  # named by the checkpoints' tasks
    assert sorted(leep["source"]) == sorted(paths) and list(leep["rank"]) == [1, 2]
    assert leep["value"].is_monotonic_decreasing, "a score: higher is better"
    for s, v in zip(leep["source"], leep["value"], strict=True):
        assert abs(v - api.scores(paths[s], data)["leep"]) < TOL

    expected = workflow_ftd(digits, nets, EXP.fisher)
    sources = {s: (checkpoint.load_network(nets[s], CPU), own(digits, s)) for s in paths}
    ftd = api.rank_sources(sources, data, "ftd", target=target, settings=EXP.fisher, seed=EXP.seed)
    assert ftd["value"].is_monotonic_increasing, "a distance: lower is better"
    for s, v in zip(ftd["source"], ftd["value"], strict=True):
        assert abs(v - expected[(s, target)]) < TOL

    probe = checkpoint.load_network(nets["low"], CPU)
    t2v = api.rank_sources(sources, data, "task2vec_asym", target=target, probe=probe, settings={"samples": 40})
    square = api.task2vec({**{s: d for s, (_, d) in sources.items()}, target: data}, probe,
                          settings={"samples": 40}).asymmetric
    assert all(abs(v - square.loc[s, target]) < TOL for s, v in zip(t2v["source"], t2v["value"], strict=True))


# -- input errors ---------------------------------------------------------------------------------------------------


def test_input_errors_are_named(digits, nets):
    net = checkpoint.load_network(nets["low"], CPU)
    x, y = own(digits, "low")
    with pytest.raises(ValueError, match=r"target_data: images must have shape \(N, C, H, W\)"):
        api.fisher_task_distance(net, (x, y), (x[:, 0], y))
    with pytest.raises(ValueError, match=r"source_data: labels must have shape \(N,\)"):
        api.fisher_task_distance(net, (x, y[:-1]), (x, y))
    with pytest.raises(TypeError, match="target_data: labels must be integers"):
        api.scores(net, (x, y.float()))
    with pytest.raises(TypeError, match="images must be a float tensor"):
        api.scores(net, ((x * 100).to(torch.uint8), y))
    with pytest.raises(ValueError, match=r"hold one class.*permutation"):
        api.scores(net, (x[y == 0], y[y == 0]))
    with pytest.raises(ValueError, match=r"labels must be 0 \.\. K-1"):
        api.scores(net, (x, y * 2))
    with pytest.raises(TypeError, match=r"must be \(images, labels\), a torch Dataset or a DataLoader"):
        api.scores(net, {"images": x, "labels": y})
    with pytest.raises(ValueError, match="unknown method 'ftdd'"):
        api.rank_sources([net], (x, y), "ftdd")
    with pytest.raises(ValueError, match="'tanas' needs the workflow"):
        api.rank_sources([net], (x, y), "tanas")
    with pytest.raises(ValueError, match=r"needs each source's own data.*\['source0'\]"):
        api.rank_sources([net], (x, y), "ftd")
    with pytest.raises(ValueError, match="a probe is needed by the Task2Vec methods"):
        api.rank_sources([(net, (x, y))], (x, y), "task2vec")
    with pytest.raises(TypeError, match="a body and a linear head"):
        api.scores(torch.nn.Linear(3, 2), (x, y))
    with pytest.raises(ValueError, match="unknown setting fisher.estimatr"):
        api.fisher(net, (x, y), settings={"estimatr": "mc"})
    with pytest.raises(ValueError, match="names must name two tasks"):
        api.fisher_task_distance(net, (x, y), (x, y), names=("a", "a"))


# -- the README's examples ------------------------------------------------------------------------------------------

MARK = "<!-- notebook-example -->"


def readme_examples() -> list[str]:
    """The ```python blocks right after a notebook-example mark in README.md, in order."""
    return re.findall(re.escape(MARK) + r"\s*```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)


def test_the_readme_notebook_examples_run(one_thread, monkeypatch, tmp_path):
    blocks = readme_examples()
    assert len(blocks) >= 4, "one example per call of taskdist.api"
    text = "\n".join(blocks)
    for call in ("fisher_task_distance", "scores", "task2vec", "rank_sources"):
        assert f"api.{call}(" in text, call
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["notebook"])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' checkpoints go to pytest's folder
    namespace: dict = {"__name__": "__notebook__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md notebook example {i + 1}", "exec"), namespace)  # noqa: S102
