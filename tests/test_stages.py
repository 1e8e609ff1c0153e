"""The workflow's stages in-process on the tiny config (tests/workflow/tiny.yaml), each job as its script runs it.

Every stage function the job scripts call, on the tiny config's real data and settings: what it returns (shapes,
ranges), that it is reproducible under its seed, and that what a job writes (through the artifact's writer) is
what the next stage reads (the aggregate that reads it, from files in any order). In seconds, without Snakemake;
tests/test_workflow.py checks the same artifacts once more as the rules produce them, end to end.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from wf import REPO

from taskdist import aggregates, stages
from taskdist.artifacts import checkpoint, io, matrices, records, vectors
from taskdist.artifacts.task_table import TaskTable
from taskdist.config import load, stable_seed
from taskdist.data import datasets, tasks
from taskdist.evaluation import transfer
from taskdist.methods import coupled, registry, task2vec
from taskdist.methods.probes import ProbeSpec
from taskdist.methods.scores import SCORES
from taskdist.specs import RESAMPLE_SUFFIX, TARGET_SEARCHES, resample

CPU = torch.device("cpu")
EXP = load(REPO / "tests" / "workflow" / "tiny.yaml")
TASKS = list(EXP.tasks)  # low, high, parity
RESAMPLED = {t: t + RESAMPLE_SUFFIX for t in TASKS}


def budget(tid):
    """The workflow's labelled budget of a target (``budget_params`` in rules/common.smk), which the stages that read
    labelled target examples select from its whole table."""
    return EXP.transfer.labelled_budget(stable_seed(EXP.seed, "transfer", tid))


@pytest.fixture(scope="module")
def digits(one_thread):
    """The tiny config's dataset and task tables, resamples included (rules prepare_dataset, make_task)."""
    ds = EXP.datasets["digits"]
    dataset = datasets.load(ds.name, EXP.image, split=ds.split, seed=EXP.seed, root=ds.root, download=ds.download)
    specs = {**EXP.tasks, **{RESAMPLED[t]: resample(s) for t, s in EXP.tasks.items()}}
    tables = {tid: TaskTable.of(tasks.materialize(spec, dataset.labels, dataset.pool)) for tid, spec in specs.items()}
    return dataset, specs, tables  # tables as jobs read them (task_table.read), not as pandas frames


@pytest.fixture(scope="module")
def nets(digits):
    """Every network of the tiny config, the resamples' included (rule train_task)."""
    dataset, specs, tables = digits
    return {tid: stages.train_task(specs[tid], dataset, tables[tid], EXP.network, EXP.train, CPU) for tid in specs}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def reversed_paths(paths: dict) -> list:
    """The files of ``paths`` in reverse order: aggregates must find every file's pair by its names."""
    return [str(p) for p in reversed(list(paths.values()))]


# -- train_task, train_probe ---------------------------------------------------------------------------------------


def test_train_task_checkpoint_is_complete_reproducible_and_read_back(digits, nets, tmp_path):
    dataset, specs, tables = digits
    ckpt = nets["low"]
    assert set(checkpoint.KEYS) <= set(ckpt)
    assert ckpt["task"]["id"] == "low" and ckpt["n_classes"] == specs["low"].n_classes == 3
    assert ckpt["in_channels"] == dataset.images.shape[1] and tuple(ckpt["arch"]["widths"]) == EXP.network.widths
    stop = ckpt["metrics"]
    assert len(ckpt["history"]) == stop["epochs"] <= EXP.train.max_epochs and stop["stopped"] in ("patience",
                                                                                                    "max_epochs")
    assert stop["stopped"] == "max_epochs" or stop["epochs"] - stop["best_epoch"] == EXP.train.patience
    val_loss = [h["held_out_loss"] for h in ckpt["history"]]
    assert stop["best_epoch"] == 0 or val_loss[stop["best_epoch"] - 1] == min(val_loss), "the best epoch is kept"
    for split in ("train", "val", "test"):
        assert 0 <= ckpt["metrics"][f"{split}_accuracy"] <= 1 and ckpt["metrics"][f"{split}_loss"] >= 0
    assert ckpt["metrics"]["train_accuracy"] > 0.5, "six epochs on three digit classes learn something"

    again = stages.train_task(specs["low"], dataset, tables["low"], EXP.network, EXP.train, CPU)
    assert same_state(ckpt["state_dict"], again["state_dict"]) and ckpt["metrics"] == again["metrics"]
    other = stages.train_task(specs["low"], dataset, tables["low"], EXP.network, EXP.train, CPU, seed=1)
    assert not same_state(ckpt["state_dict"], other["state_dict"]), "another seed trains another network"

    paths = {}
    for tid in ("low", "high"):
        paths[tid] = tmp_path / f"{tid}.pt"
        checkpoint.write(nets[tid], paths[tid])
    read = checkpoint.read_all(reversed_paths(paths))  # rule scores: the networks by the task they learnt
    assert sorted(read) == ["high", "low"] and same_state(read["low"]["state_dict"], ckpt["state_dict"])
    x, _ = tasks.arrays(dataset, tables["low"], "test")
    with torch.no_grad():
        assert torch.equal(checkpoint.load_network(read["low"], CPU)(x), checkpoint.load_network(ckpt, CPU)(x))


def test_train_probe_stacks_the_probe_tasks_labels(digits):
    dataset, specs, tables = digits
    args = ([specs["low"], specs["parity"]], [dataset] * 2, [tables["low"], tables["parity"]], EXP.network, EXP.train)
    ckpt = stages.train_probe(*args, seed=5, device=CPU)
    assert ckpt["n_classes"] == 3 + 2 and ckpt["task"] == {"id": "low+parity", "dataset": "digits+digits"}
    assert 0 <= ckpt["metrics"]["val_accuracy"] <= 1 and len(ckpt["history"]) == ckpt["metrics"]["epochs"]
    assert same_state(ckpt["state_dict"], stages.train_probe(*args, seed=5, device=CPU)["state_dict"])


# -- pair_fisher and the FTD matrix --------------------------------------------------------------------------------


def fisher(digits, nets, net, data_task):
    """Rule fisher: a network reads its own task's train split, another task's labelled budget."""
    dataset, specs, tables = digits
    target_budget = None if net == data_task else budget(data_task)
    seed = stable_seed(EXP.seed, "fisher", net, data_task)
    return stages.pair_fisher(nets[net], specs[data_task], dataset, tables[data_task], target_budget, EXP.fisher, seed,
                              CPU)


def test_pair_fisher_covers_the_body_per_parameter_and_is_reproducible(digits, nets):
    values = fisher(digits, nets, "low", "high")
    vectors.check(values)  # finite, non-negative, one layout
    body = {k.removeprefix("body."): v for k, v in nets["low"]["state_dict"].items() if k.startswith("body.")}
    assert set(values) <= set(body) and not any(k.startswith("head") for k in values)
    for layer, v in values.items():  # per parameter (the tiny config's granularity): filters x entries
        assert v.shape == (body[layer].shape[0], body[layer][0].numel()) if EXP.fisher.granularity == "parameter" \
            else v.shape == (body[layer].shape[0],)
    assert vectors.flat(values).sum() > 0
    again = fisher(digits, nets, "low", "high")
    assert values.keys() == again.keys() and all(np.array_equal(values[k], again[k]) for k in values)


def test_fisher_tables_make_the_ftd_matrix_and_its_floor(digits, nets, tmp_path):
    """Rule fisher writes every pair (and each network on its task's resample); rule ftd_matrix reads them."""
    pairs = [*itertools.product(TASKS, TASKS)]
    floors = [(t, RESAMPLED[t]) for t in TASKS]
    paths = {}
    for net, data_task in pairs + floors:
        values = fisher(digits, nets, net, data_task)
        paths[(net, data_task)] = tmp_path / net / f"{data_task}.parquet"
        vectors.write(values, paths[(net, data_task)], net=net, data=data_task)
        read, names = vectors.read(paths[(net, data_task)])
        assert names == {"net": net, "data": data_task}
        assert vectors.layout(read) == vectors.layout(values)
        assert np.array_equal(vectors.flat(read), vectors.flat(values))
    matrix, floor = aggregates.ftd(reversed_paths({p: paths[p] for p in pairs}),
                                   reversed_paths({p: paths[p] for p in floors}))
    square = matrices.to_square(matrix, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0)
    off = square[~np.eye(len(TASKS), dtype=bool)]
    assert np.all((off > 0) & (off <= 1))
    assert sorted(floor["source"]) == sorted(TASKS) and (floor["source"] == floor["target"]).all()
    assert floor["value"].between(0, 1, inclusive="right").all()
    matrices.write(matrix, tmp_path / "ftd.parquet", method="ftd")
    pd.testing.assert_frame_equal(matrices.read_method(tmp_path / "ftd.parquet", "ftd").reset_index(drop=True),
                                  matrix.sort_values(["source", "target"]).reset_index(drop=True),
                                  check_dtype=False)


# -- target_scores -------------------------------------------------------------------------------------------------


def test_target_scores_make_every_score_matrix_and_floor(digits, nets, tmp_path):
    """Rule scores for every target (its labelled budget and its resample's), then rule score_matrix."""
    dataset, _, tables = digits
    paths = {}
    for target in TASKS:
        samples = {"task": tables[target], "resample": tables[RESAMPLED[target]]}
        budgets = {"task": budget(target), "resample": budget(RESAMPLED[target])}
        sources = {s: nets[s] for s in TASKS if s != target}
        table = stages.target_scores(sources, dataset, samples, budgets, CPU)
        assert list(table.columns) == ["source", "sample", "method", "value", "examples", "features"]
        assert (table["features"] == EXP.network.hidden).all() and (table["examples"] > 0).all()
        assert sorted(zip(table["source"], table["sample"], table["method"], strict=True)) == sorted(
            itertools.product(sources, samples, SCORES))
        assert np.isfinite(table["value"]).all()
        assert (table[table["method"].isin(["nce", "leep"])]["value"] <= 1e-9).all(), "log-likelihoods: <= 0"
        if target == "low":
            pd.testing.assert_frame_equal(table, stages.target_scores(sources, dataset, samples, budgets, CPU))
        paths[target] = tmp_path / f"{target}.parquet"
        matrices.write_scores(table, paths[target], target=target)
    for score in SCORES:
        matrix, floor = aggregates.scores(reversed_paths(paths), score)
        expected = sorted(itertools.permutations(TASKS, 2))
        assert sorted(zip(matrix["source"], matrix["target"], strict=True)) == expected
        # the floor: each source on the target's resample, under the original target's name
        assert sorted(zip(floor["source"], floor["target"], strict=True)) == expected
        assert not matrix["value"].equals(floor["value"]), "the resample is another sample"


# -- Task2Vec ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(digits, tmp_path_factory):
    """Rule train_probe on two tasks, then the probe as rules task2vec_embed and task2vec_trivial read it."""
    dataset, specs, tables = digits
    ckpt = stages.train_probe([specs["low"], specs["high"]], [dataset] * 2, [tables["low"], tables["high"]],
                              EXP.network, EXP.train, seed=stable_seed(EXP.seed, "probe"), device=CPU)
    path = tmp_path_factory.mktemp("probe") / "_probe.pt"
    checkpoint.write(ckpt, path)
    return stages.task2vec_probe(ProbeSpec("trained", None, None), dataset.images.shape[1], [str(path)])


@pytest.mark.parametrize("estimator", task2vec.FISHER_KINDS)
def test_task2vec_embeddings_make_both_matrices_and_floors(digits, probe, estimator, tmp_path):
    dataset, specs, tables = digits
    spec = EXP.task2vec
    before = {k: v.clone() for k, v in probe.state_dict().items()}

    def embed(tid):
        return stages.task2vec_embedding(probe, specs[tid], dataset, tables[tid], budget(tid), estimator=estimator,
                                         head=spec.head,
                                         samples=40, beta=spec.beta, seed=stable_seed(EXP.seed, "task2vec", tid),
                                         device=CPU)

    paths, floors = {}, {}
    for tid in [*TASKS, *RESAMPLED.values()]:
        embedding = embed(tid)
        vectors.check(embedding)
        assert all(v.ndim == 1 for v in embedding.values()), "one value per filter"
        where = floors if tid.endswith(RESAMPLE_SUFFIX) else paths
        where[tid] = tmp_path / f"{tid}.parquet"
        vectors.write(embedding, where[tid], task=tid)
    assert same_state(before, probe.state_dict()), "embedding leaves the probe untouched"
    again = embed("low")
    assert all(np.array_equal(v, again[k]) for k, v in vectors.read(paths["low"])[0].items())
    trivial = task2vec.trivial_embedding(probe, estimator=estimator, beta=spec.beta)
    vectors.write(trivial, tmp_path / "_trivial.parquet", task=task2vec.TRIVIAL)

    out = aggregates.task2vec(reversed_paths(paths), reversed_paths(floors), tmp_path / "_trivial.parquet",
                              spec.alpha)
    for name in ("task2vec", "task2vec_asym"):
        pairs = sorted(zip(out[name]["source"], out[name]["target"], strict=True))
        assert pairs == sorted(itertools.product(TASKS, TASKS))
        assert np.isfinite(out[name]["value"]).all()
        assert sorted(out[f"{name}_floor"]["source"]) == sorted(TASKS)
    sym = matrices.to_square(out["task2vec"], order=TASKS).to_numpy()
    assert np.allclose(sym, sym.T) and np.allclose(np.diag(sym), 0) and (sym >= 0).all()


# -- TA-NAS complexity ---------------------------------------------------------------------------------------------


def test_pair_complexities_make_the_tanas_matrix(digits, nets, tmp_path):
    """Rule tanas for every ordered pair and each network against its resample's, then rule tanas_matrix."""
    dataset, _, tables = digits

    def d(source, target):
        seed = stable_seed(EXP.seed, "tanas", source, target)
        return stages.pair_complexity(nets[source], nets[target], dataset, tables[target], EXP.tanas, seed, CPU)

    pairs = list(itertools.permutations(TASKS, 2))
    floors = [(t, RESAMPLED[t]) for t in TASKS]
    paths = {}
    for source, target in pairs + floors:
        value = d(source, target)
        assert isinstance(value, float) and 0 <= value <= 1
        paths[(source, target)] = tmp_path / source / f"{target}.json"
        records.write({"tanas": value}, paths[(source, target)], "tanas", source=source, target=target)
    assert d(*pairs[0]) == records.read(paths[pairs[0]], "tanas")["tanas"], "seeded"
    matrix, floor = aggregates.tanas(reversed_paths({p: paths[p] for p in pairs}),
                                     reversed_paths({p: paths[p] for p in floors}))
    square = matrices.to_square(matrix, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0) and np.all((square >= 0) & (square <= 1))
    assert sorted(zip(floor["source"], floor["target"], strict=True)) == [(t, t) for t in sorted(TASKS)]


# -- path lengths (coupled, uncoupled, finetune_length) -------------------------------------------------------------


@pytest.mark.parametrize("method", registry.PATH_METHODS)
def test_path_lengths_make_their_matrix_and_floor(digits, nets, method, tmp_path):
    """Rule path_length (every ordered pair, every task against its resample), then rule path_matrix."""
    dataset, specs, tables = digits
    spec = coupled.spec_of(method, registry.path_reads(method, EXP.coupled))  # what the job's params give it

    def d(source, target):
        return stages.pair_path(method, nets[source], (dataset, tables[source]), (dataset, tables[target]),
                                budget(target), spec, stable_seed(EXP.seed, "path", source, target), CPU)

    pairs = list(itertools.permutations(TASKS, 2))
    floors = [(t, RESAMPLED[t]) for t in TASKS]
    paths = {}
    for source, target in pairs + floors:
        values = d(source, target)
        assert values["distance"] > 0 and values["samples"] == EXP.coupled.samples
        paths[(source, target)] = tmp_path / source / f"{target}.json"
        records.write(values, paths[(source, target)], "path", method=method, source=source, target=target)
    matrix, floor = aggregates.path_lengths(method, reversed_paths({p: paths[p] for p in pairs}),
                                            reversed_paths({p: paths[p] for p in floors}))
    square = matrices.to_square(matrix, order=TASKS)
    assert np.all(np.diag(square.to_numpy()) == 0) and (square.to_numpy()[~np.eye(3, dtype=bool)] > 0).all()
    assert (floor["value"] > 0).all()  # a path to the resample still moves (tests/test_coupled.py: by less)
    with pytest.raises(io.ArtifactError, match="records of the methods"):
        other = "uncoupled" if method == "coupled" else "coupled"
        aggregates.path_lengths(other, [paths[p] for p in pairs], [paths[p] for p in floors])
    traces = aggregates.path_traces([paths[p] for p in pairs[:2]])
    assert len(traces) == 2 * (EXP.coupled.steps + 1) and set(traces["method"]) == {method}


# -- the transferability bound -------------------------------------------------------------------------------------


def test_bounds_hold_on_every_pair_and_make_their_matrix(digits, nets, tmp_path):
    """Rule transfer_bound (every ordered pair, every task against its resample), then rule bound_matrix. The bound
    is an upper bound on the loss of the transferred head on the labelled examples it reads and, evaluated there,
    on the test split; learning the transforms never makes it larger than learning nothing."""
    dataset, specs, tables = digits

    def b(source, target, setting):
        spec = dataclasses.replace(EXP.transfer_bound, setting=setting)
        return stages.pair_bound(nets[source], (dataset, tables[source]), (dataset, tables[target]), budget(target),
                                 spec, stable_seed(EXP.seed, "bound", source, target), CPU)

    pairs = list(itertools.permutations(TASKS, 2))
    floors = [(t, RESAMPLED[t]) for t in TASKS]
    paths = {}
    for source, target in pairs + floors:
        values = b(source, target, "LearnedAll")
        for where in ("terms", "test"):
            t = values[where]
            assert t["bound"] >= t["target_loss"], f"{source} -> {target} ({where}): {t}"
        if (source, target) in pairs:
            fixed = b(source, target, "FixedAll")
            assert values["bound"] <= fixed["bound"], f"{source} -> {target}: {values['terms']} vs {fixed['terms']}"
        paths[(source, target)] = tmp_path / source / f"{target}.json"
        records.write(values, paths[(source, target)], "bound", source=source, target=target)
    matrix, floor = aggregates.transfer_bound(reversed_paths({p: paths[p] for p in pairs}),
                                              reversed_paths({p: paths[p] for p in floors}))
    square = matrices.to_square(matrix, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0) and (square[~np.eye(3, dtype=bool)] > 0).all()
    assert sorted(floor["source"]) == sorted(TASKS)
    terms = aggregates.bound_terms([paths[p] for p in pairs])
    assert len(terms) == len(pairs) and (terms["bound"] >= terms["target_loss"]).all()


# -- the ground truth of transfer ----------------------------------------------------------------------------------


def test_transfer_records_make_the_ground_truth_table(digits, nets, tmp_path):
    """Rules transfer (every ordered pair) and scratch (every target), then rule transfer_matrix."""
    dataset, specs, tables = digits

    def run(source, target):
        seed = stable_seed(EXP.seed, "transfer", target)  # the target's: every source sees the same budgets
        ckpt = [nets[source]] if source else None
        return transfer.run(ckpt, specs[target], dataset, tables[target], EXP.network, EXP.transfer, seed, CPU)

    pairs, scratch = {}, {}
    for source, target in itertools.permutations(TASKS, 2):
        runs = run(source, target)
        assert {(r["setting"], r["replicate"]) for r in runs} == set(
            itertools.product(EXP.transfer.settings, range(EXP.transfer.replicates)))
        pairs[(source, target)] = tmp_path / source / f"{target}.json"
        records.write({"runs": runs}, pairs[(source, target)], "transfer", source=source, target=target)
    for target in TASKS:
        runs = run(None, target)
        assert {r["setting"] for r in runs} == {"scratch"}
        scratch[target] = tmp_path / "_scratch" / f"{target}.json"
        records.write({"runs": runs}, scratch[target], "scratch", target=target)
    assert run("low", "high") == records.read(pairs[("low", "high")], "transfer")["runs"], "seeded"

    n_labels = specs["high"].n_classes
    for r in records.read(pairs[("low", "high")], "transfer")["runs"]:
        assert r["train_examples"] == EXP.transfer.samples_per_class * n_labels
        assert r["held_out_examples"] == EXP.transfer.holdout_per_class * n_labels
        assert 0 <= r["accuracy"] <= 1 and r["loss"] >= 0 and r["best_epoch"] <= r["epochs"]

    table = aggregates.transfer_table(reversed_paths(pairs), reversed_paths(scratch))
    rows = itertools.product(itertools.permutations(TASKS, 2), EXP.transfer.settings, range(EXP.transfer.replicates))
    assert sorted(zip(table.source, table.target, table.setting, table.replicate, strict=True)) == sorted(
        (a, b, s, r) for (a, b), s, r in rows)
    assert table["accuracy"].between(0, 1).all() and table["scratch_accuracy"].between(0, 1).all()
    assert np.allclose(table["gain"], table["accuracy"] - table["scratch_accuracy"])
    matrices.write_transfer(table, tmp_path / "transfer.parquet")
    means = transfer.means(matrices.read_transfer(tmp_path / "transfer.parquet"), EXP.transfer.settings[0])
    assert len(means) == len(pairs) and (means["replicates"] == EXP.transfer.replicates).all()


# -- architecture search -------------------------------------------------------------------------------------------


NO_PANDAS_JOB = """
import json, sys
from pathlib import Path

import torch

from taskdist.artifacts import checkpoint, dataset, task_table, vectors
from taskdist.config import load, stable_seed
from taskdist.evaluation import transfer
from taskdist import stages

torch.set_num_threads(1)
tmp, config = Path(sys.argv[1]), sys.argv[2]
exp = load(config)
cpu = torch.device("cpu")
ds, ckpt = dataset.read(tmp / "digits.npz"), checkpoint.read(tmp / "low.pt")
table = task_table.read(tmp / "high.parquet")
runs = transfer.run([ckpt], exp.tasks["high"], ds, table, None, exp.transfer,
                    stable_seed(exp.seed, "transfer", "high"), cpu)
budget = exp.transfer.labelled_budget(stable_seed(exp.seed, "transfer", "high"))
values = stages.pair_fisher(ckpt, exp.tasks["high"], ds, table, budget, exp.fisher,
                            stable_seed(exp.seed, "fisher", "low", "high"), cpu)
vectors.write(values, tmp / "fisher.parquet", net="low", data="high")
print(json.dumps({"pandas": "pandas" in sys.modules, "runs": runs}))
"""


def test_pair_jobs_read_and_write_without_pandas_and_compute_the_same(digits, nets, tmp_path):
    """A transfer and a Fisher pair job, in a fresh interpreter as a job runs, read the task table and write the
    Fisher vectors without importing pandas (about 0.3 CPU-s of every torch job's start), and compute what the
    same stages compute in this process; the Fisher file reads back as the frame pandas' writer wrote."""
    import json
    import subprocess
    import sys

    from taskdist.artifacts import dataset as dataset_file
    from taskdist.artifacts import task_table

    ds, specs, tables = digits
    dataset_file.write(ds, tmp_path / "digits.npz", dataset="digits")
    checkpoint.write(nets["low"], tmp_path / "low.pt")
    task_table.write(tables["high"], tmp_path / "high.parquet", task="high")
    proc = subprocess.run([sys.executable, "-c", NO_PANDAS_JOB, str(tmp_path), str(REPO / "tests/workflow/tiny.yaml")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout.strip().splitlines()[-1])
    assert job["pandas"] is False, "a pair job imported pandas"
    seed = stable_seed(EXP.seed, "transfer", "high")
    assert job["runs"] == transfer.run([nets["low"]], specs["high"], ds, tables["high"], None, EXP.transfer, seed, CPU)
    written, names = vectors.read(tmp_path / "fisher.parquet")
    assert names == {"net": "low", "data": "high"}
    expected = fisher(digits, nets, "low", "high")
    assert written.keys() == expected.keys() and all(np.array_equal(written[k], expected[k]) for k in expected)
    frame = pd.read_parquet(tmp_path / "fisher.parquet")
    assert frame.equals(vectors.table(expected)), "the file reads back as the frame of the pandas writer"


def test_nas_searches_bases_then_a_target_in_the_space_of_its_base(digits, tmp_path):
    """Rule nas_base on both bases, then rule nas_target's three searches (task-aware from the nearest base's
    cell), then rule nas_summary."""
    dataset, specs, tables = digits
    search = EXP.nas.search

    def run(kind, task, base_cells=None):
        seed = stable_seed(EXP.seed, "nas", task)
        return stages.nas_search(kind, specs[task], dataset, tables[task], search, seed, CPU, base_cells=base_cells)

    def write(result, role):
        result = dict(result)
        names = {"task": result.pop("task"), "search": result.pop("search"), "role": role}
        path = tmp_path / role / names["task"] / f"{names['search']}.json"
        records.write(result, path, "search", **names)
        return path

    paths = {}
    for base in EXP.nas.base_tasks:
        result = run("full", base)
        assert result["task"] == base and result["search"] == "full" and result["bases"] == []
        assert result["candidates_trained"] == search.candidates_trained == len(result["history"])
        assert all(0 <= result[f"{split}_accuracy"] <= 1 for split in ("train", "val", "test"))
        assert result["params"] > 0 and result["genotype"]["edges"]
        paths[base] = write(result, "base")
    strip = {"search_seconds", "search_cpu_s", "final_seconds", "history"}
    again = run("full", EXP.nas.base_tasks[0])
    first = records.read(paths[EXP.nas.base_tasks[0]], "search")
    assert all(again[k] == first[k] for k in again if k not in strip | {"task", "search"}), "seeded"

    (target,) = EXP.nas.targets
    base = EXP.nas.base_tasks[0]  # as if nearest (k = 1)
    cells = aggregates.base_cells([str(paths[base])])
    base_ops = {edge["op"] for edge in cells[base]["genotype"]["edges"]}
    for kind in TARGET_SEARCHES:
        result = run(kind, target, base_cells=cells if kind == "task_aware" else None)
        if kind == "task_aware":
            assert result["bases"] == [base] and set(result["space"]["ops"]) == base_ops
            assert {edge["op"] for edge in result["genotype"]["edges"]} <= base_ops
        paths[(target, kind)] = write(result, "target")
    summary = aggregates.nas_summary(reversed_paths(paths))
    assert sorted(zip(summary["role"], summary["task"], summary["search"], strict=True)) == sorted(
        [("base", b, "full") for b in EXP.nas.base_tasks] + [("target", target, s) for s in TARGET_SEARCHES])
    assert summary["test_accuracy"].between(0, 1).all()
