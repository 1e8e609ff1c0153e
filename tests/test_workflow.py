"""The workflow end to end on the tiny config, and what a rerun recomputes."""

import itertools
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from wf import finished_outputs, planned_outputs, snakemake, tiny_config, write_config

from taskdist import io, selection

pytestmark = pytest.mark.workflow

TASKS = [t["id"] for t in tiny_config()["tasks"]]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A complete run of the tiny workflow; tests that edit its config restore it."""
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, tiny_config())
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture
def edit_config(run_dir):
    def edit(cfg):
        write_config(run_dir, cfg)

    yield edit
    write_config(run_dir, tiny_config())


def test_run_produces_an_asymmetric_ftd_matrix_over_all_pairs(run_dir):
    df = io.read_matrix(run_dir / "results/distances/ftd.parquet")
    assert sorted(zip(df.source, df.target)) == sorted(itertools.product(TASKS, TASKS))
    square = io.to_square(df, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0)
    off = square[~np.eye(len(TASKS), dtype=bool)]
    assert np.all((off > 0) & (off <= 1))
    assert not np.allclose(square, square.T), "FTD should be asymmetric"
    assert (run_dir / "results/plots/ftd.png").stat().st_size > 1000


def test_run_leaves_checkpoints_fisher_tables_and_progress_logs(run_dir):
    ckpt = io.load_checkpoint(run_dir / "results/models/low.pt")
    assert set(ckpt["metrics"]) >= {"train_accuracy", "val_accuracy", "test_accuracy"}
    assert ckpt["task"]["id"] == "low" and tuple(ckpt["arch"]["widths"]) == (4, 8)
    table = io.read_parquet(run_dir / "results/fisher/low/high.parquet")
    assert list(table.columns) == ["layer", "filter", "param", "value"]
    assert (table["value"] >= 0).all() and table["value"].sum() > 0
    assert not table["layer"].str.startswith("head").any(), "the head must not enter the body's Fisher"
    log = (run_dir / "logs/train_task/low.log").read_text()
    assert "epoch 6/6" in log and "test acc" in log


def test_show_prints_the_matrix_as_a_task_table(run_dir):
    out = subprocess.run(
        [sys.executable, "-m", "taskdist.cli", "show", str(run_dir / "results/distances/ftd.parquet")],
        capture_output=True, text=True, check=True,
    ).stdout
    lines = out.strip().splitlines()
    assert all(t in lines[0] for t in TASKS)
    assert len(lines) == 1 + len(TASKS)


def test_second_run_schedules_nothing(run_dir):
    assert planned_outputs(run_dir) == set()


def aggregates(run_dir):
    """Outputs that combine all tasks: matrices, tables and plots (they rerun whenever a task changes)."""
    results = run_dir / "results"
    files = [*results.glob("distances/*"), *results.glob("plots/**/*.png"), *results.glob("*.parquet")]
    return {str(f.relative_to(run_dir)) for f in files}


def pair_outputs(task, tasks):
    """Per-pair outputs that involve ``task``: Fisher for every pair, fine-tuning, scores, TA-NAS for a != b."""
    out = {f"results/fisher/{a}/{b}.parquet" for a in tasks for b in tasks if task in (a, b)}
    for a, b in itertools.permutations(tasks, 2):
        if task in (a, b):
            out |= {f"results/transfer/{a}/{b}.json", f"results/scores/{a}/{b}.json", f"results/tanas/{a}/{b}.json"}
    return out


NAS = tiny_config()["nas"]


def nas_pending(targets):
    """What a dry run lists after the distance matrix changes: each target's nearest-base checkpoint and, until
    it has run, the task-aware search behind it (a real run skips that search if the chosen bases stay)."""
    out = {"results/nas/summary.parquet"}
    for t in targets:
        out |= {f"results/nas/target/{t}/bases.json", f"results/nas/target/{t}/task_aware.json"}
    return out


def own_outputs(task):
    return {f"results/tasks/{task}.parquet", f"results/models/{task}.pt", f"results/transfer/_scratch/{task}.json"}


def test_adding_a_task_schedules_only_its_own_jobs(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"].append({"id": "mid", "dataset": "digits", "classes": [3, 4, 5, 6]})
    edit_config(cfg)
    tasks = TASKS + ["mid"]
    pairs = pair_outputs("mid", tasks)
    assert len([p for p in pairs if p.startswith("results/fisher/")]) == 2 * len(TASKS) + 1
    expected = pairs | own_outputs("mid") | aggregates(run_dir) | nas_pending(NAS["targets"])
    assert planned_outputs(run_dir) == expected


def test_changing_one_task_schedules_only_jobs_involving_it(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"][1]["samples_per_class"] = 15  # task "high"
    edit_config(cfg)
    expected = pair_outputs("high", TASKS) | own_outputs("high") | aggregates(run_dir) | nas_pending(NAS["targets"])
    assert planned_outputs(run_dir) == expected | {"results/nas/base/high.json"}  # "high" is a NAS base task


def test_changing_fisher_settings_keeps_trained_networks(run_dir, edit_config):
    cfg = tiny_config()
    cfg["fisher"]["samples"] = 25
    edit_config(cfg)
    planned = planned_outputs(run_dir)
    assert {p for p in planned if p.startswith("results/fisher/")} == {
        f"results/fisher/{a}/{b}.parquet" for a in TASKS for b in TASKS
    }
    assert not any(p.startswith(("results/models/", "results/tasks/", "resources/", "results/transfer/"))
                   for p in planned)


def test_run_compares_every_method_with_the_ground_truth(run_dir):
    methods = tiny_config()["distances"]["methods"]
    transfer = io.read_transfer(run_dir / "results/transfer.parquet")
    assert sorted(zip(transfer.source, transfer.target)) == sorted(itertools.permutations(TASKS, 2))
    assert transfer["accuracy"].between(0, 1).all()
    assert np.allclose(transfer["gain"], transfer["accuracy"] - transfer["scratch_accuracy"])
    mantel = io.read_parquet(run_dir / "results/mantel.parquet")
    expected = {(m, t) for m in methods for t in ("-gain", "1-accuracy")} | set(itertools.combinations(methods, 2))
    assert set(zip(mantel.x, mantel.y)) == expected
    assert (mantel["n"] == len(TASKS)).all() and (mantel["permutations"] == 6).all()  # 3! = 6: exact
    selection = io.read_parquet(run_dir / "results/selection.parquet")
    assert set(selection["method"]) == set(methods) | {"random"}
    assert (selection.groupby("method").size() == len(TASKS)).all()
    assert (selection["regret"] >= 0).all()
    for method in methods:
        for plot in (f"{method}.png", f"atlas/{method}.png", f"mantel/{method}.png"):
            assert (run_dir / "results/plots" / plot).stat().st_size > 1000


def test_nearest_lists_sources_with_their_measured_transfer(run_dir):
    out = subprocess.run(
        [sys.executable, "-m", "taskdist.cli", "nearest", "low", "--method", "ftd",
         "--results", str(run_dir / "results")],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert out[1].split() == ["source", "ftd", "accuracy", "gain"]
    ftd = io.to_square(io.read_matrix(run_dir / "results/distances/ftd.parquet"))
    assert [line.split()[0] for line in out[2:]] == list(ftd["low"].drop("low").sort_values().index)


# ---------------------------------------------------------------------------------------------------------------
# task-aware architecture search and the TA-NAS distance


def test_run_searches_bases_and_targets_with_the_nearest_bases_by_the_distance(run_dir):
    ftd = io.read_matrix(run_dir / "results/distances/ftd.parquet")
    (target,) = NAS["targets"]
    chosen = io.read_json(run_dir / f"results/nas/target/{target}/bases.json")["bases"]
    assert chosen == selection.nearest_bases(ftd, target, NAS["base_tasks"], NAS["k"])
    base_ops = set()
    for base in NAS["base_tasks"]:
        result = io.read_json(run_dir / f"results/nas/base/{base}.json")
        assert result["task"] == base and result["search"] == "full" and 0 <= result["test_accuracy"] <= 1
        if base in chosen:
            base_ops |= {edge["op"] for edge in result["genotype"]["edges"]}
    aware = io.read_json(run_dir / f"results/nas/target/{target}/task_aware.json")
    assert aware["bases"] == chosen and set(aware["space"]["ops"]) == base_ops
    assert {edge["op"] for edge in aware["genotype"]["edges"]} <= base_ops
    searched = {edge["op"] for row in aware["history"] for edge in json.loads(row["genotype"])["edges"]}
    assert searched <= base_ops
    summary = io.read_parquet(run_dir / "results/nas/summary.parquet")
    targets = summary[summary["role"] == "target"]
    assert sorted(targets["search"]) == ["full", "random", "task_aware"]
    budget = NAS["search"]["stages"] * (NAS["search"]["candidates"] + 1)
    assert (summary["candidates_trained"] == budget).all() and summary["test_accuracy"].between(0, 1).all()
    assert (run_dir / "results/plots/nas.png").stat().st_size > 1000


def test_tanas_distance_joins_the_comparison(run_dir):
    square = io.to_square(io.read_matrix(run_dir / "results/distances/tanas.parquet"), order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0) and np.all((square >= 0) & (square <= 1))
    assert (square[~np.eye(len(TASKS), dtype=bool)] > 0).all()  # at least one pruning step's share remains
    mantel = io.read_parquet(run_dir / "results/mantel.parquet")
    assert {("tanas", "-gain"), ("tanas", "1-accuracy")} <= set(zip(mantel.x, mantel.y))


def test_adding_a_nas_target_plans_only_its_searches(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"].append({"id": "mid", "dataset": "digits", "classes": [3, 4, 5, 6]})
    cfg["nas"]["targets"].append("mid")
    edit_config(cfg)
    planned = {p for p in planned_outputs(run_dir) if p.startswith("results/nas/")}
    mid = {f"results/nas/target/mid/{name}.json" for name in ("bases", "task_aware", "full", "random")}
    assert planned == mid | nas_pending(NAS["targets"])  # no base search, no other target's full or random search


def test_adding_a_base_reruns_only_its_search_and_the_targets_whose_nearest_bases_change(run_dir, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(run_dir, workdir, symlinks=True)
    (target,) = NAS["targets"]
    before = io.read_json(workdir / f"results/nas/target/{target}/bases.json")["bases"]
    cfg = tiny_config()
    cfg["tasks"].append({"id": "mid", "dataset": "digits", "classes": [3, 4, 5, 6]})
    cfg["nas"]["base_tasks"].append("mid")
    write_config(workdir, cfg)
    ran = finished_outputs(snakemake(workdir, "--cores", "2").stderr)
    after = io.read_json(workdir / f"results/nas/target/{target}/bases.json")["bases"]
    nas = {p for p in ran if p.startswith("results/nas/")}
    changed = {f"results/nas/target/{target}/task_aware.json"} if after != before else set()
    expected = {"results/nas/base/mid.json", f"results/nas/target/{target}/bases.json", "results/nas/summary.parquet"}
    assert nas == expected | changed, f"nearest bases {before} -> {after}"

    cfg["nas"]["k"] = 3  # every base: the chosen set changes, the base searches stay
    write_config(workdir, cfg)
    ran = finished_outputs(snakemake(workdir, "--cores", "2").stderr)
    assert {p for p in ran if p.startswith("results/nas/")} == {
        f"results/nas/target/{target}/bases.json",
        f"results/nas/target/{target}/task_aware.json",
        "results/nas/summary.parquet",
    }
