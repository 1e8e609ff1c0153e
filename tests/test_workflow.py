"""The workflow end to end on the tiny config, and what a rerun recomputes."""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from wf import (
    REPO,
    chromium,
    finished_outputs,
    planned_outputs,
    render_page,
    shared_run,
    snakemake,
    texts_by_id,
    tiny_config,
    write_config,
)

from taskdist.artifacts import checkpoint, io, matrices, records, vectors
from taskdist.config import load
from taskdist.evaluation import selection
from taskdist.methods.registry import PATH_METHODS, SCORE_METHODS
from taskdist.specs import RESAMPLE_SUFFIX, TARGET_SEARCHES

pytestmark = pytest.mark.workflow

EXP = load(REPO / "tests" / "workflow" / "tiny.yaml")
TASKS = list(EXP.tasks)
METHODS = list(EXP.methods)
SETTINGS = list(EXP.transfer.settings)  # finetune, linear
NAS = tiny_config()["nas"]
NAS_SUMMARY = "results/nas/summary.parquet"
NAS_SUMMARY_OUTPUTS = {NAS_SUMMARY, "results/plots/nas.png", "results/plots/nas_curves.png"} | {
    f"results/nas/{name}.parquet" for name in ("curves", "reach", "paired", "winners")}
MID = {"id": "mid", "dataset": "digits", "classes": [3, 4, 5, 6]}  # a task the tests add; no other task draws 6


@pytest.fixture(scope="module")
def run_dir(tiny_run):
    """A complete run of the tiny workflow (tests/conftest.py); tests that edit its config restore it."""
    return tiny_run


@pytest.fixture
def edit_config(run_dir):
    def edit(cfg):
        write_config(run_dir, cfg)

    yield edit
    write_config(run_dir, tiny_config())


def test_run_produces_an_asymmetric_ftd_matrix_over_all_pairs(run_dir):
    df = matrices.read_method(run_dir / "results/distances/ftd.parquet", "ftd")
    assert sorted(zip(df.source, df.target, strict=True)) == sorted(itertools.product(TASKS, TASKS))
    square = matrices.to_square(df, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0)
    off = square[~np.eye(len(TASKS), dtype=bool)]
    assert np.all((off > 0) & (off <= 1))
    assert not np.allclose(square, square.T), "FTD should be asymmetric"
    assert (run_dir / "results/plots/ftd.png").stat().st_size > 1000


def test_run_leaves_checkpoints_fisher_tables_and_progress_logs(run_dir):
    ckpt = checkpoint.read(run_dir / "results/models/low.pt")
    assert set(ckpt["metrics"]) >= {"train_accuracy", "val_accuracy", "test_accuracy"}
    assert ckpt["task"]["id"] == "low" and tuple(ckpt["arch"]["widths"]) == (4, 8)
    table = io.read_parquet(run_dir / "results/fisher/low/high.parquet")
    assert list(table.columns) == ["layer", "filter", "param", "value"]
    assert vectors.read(run_dir / "results/fisher/low/high.parquet")[1] == {"net": "low", "data": "high"}
    assert (table["value"] >= 0).all() and table["value"].sum() > 0
    assert not table["layer"].str.startswith("head").any(), "the head must not enter the body's Fisher"
    log = (run_dir / "logs/train_task/low.log").read_text()
    stop = ckpt["metrics"]
    assert f"stopped after {stop['epochs']} epochs ({stop['stopped']}), kept epoch {stop['best_epoch']}" in log
    assert "test acc" in log
    from taskdist.cli import summary

    shown = summary(run_dir / "results")
    assert "Task networks" in shown
    row = next(line.split() for line in shown.splitlines() if line.split()[:1] == ["low"])
    assert row[3:6] == [str(stop["epochs"]), str(stop["best_epoch"]), stop["stopped"]], row
    # the resample: the same task drawn again, with its own network (TA-NAS is computed) and Fisher pair
    resample = io.read_parquet(run_dir / f"results/tasks/{resampled('low')}.parquet")
    assert not resample.equals(io.read_parquet(run_dir / "results/tasks/low.parquet"))
    assert checkpoint.read(run_dir / f"results/models/{resampled('low')}.pt")["task"]["id"] == resampled("low")
    assert (run_dir / f"results/fisher/low/{resampled('low')}.parquet").is_file()
    scores = io.read_parquet(run_dir / "results/scores/low.parquet")
    assert list(scores.columns) == ["source", "sample", "method", "value", "examples", "features", "target"]
    assert (scores["features"] == 8).all() and (scores["examples"] == 6 * 3 + 3 * 3).all()  # hidden 8; the budget
    assert sorted(zip(scores["source"], scores["sample"], scores["method"], strict=True)) == sorted(
        itertools.product([t for t in TASKS if t != "low"], ("resample", "task"), SCORE_METHODS)
    )
    assert (scores["target"] == "low").all()


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


# ---------------------------------------------------------------------------------------------------------------
# What a dry run plans, derived from the config the way the rules build it (rules/*.smk)


def resampled(task):
    """The task's resample: the instrument of the noise floors, in no Mantel or selection table."""
    return task + RESAMPLE_SUFFIX


def own_outputs(task, methods=METHODS):
    """A task's own jobs: its examples and network, its from-scratch baseline, and its resample's examples (its
    network only for TA-NAS, the embeddings only for Task2Vec)."""
    out = {
        f"results/tasks/{task}.parquet",
        f"results/tasks/{resampled(task)}.parquet",
        f"results/models/{task}.pt",
        f"results/transfer/_scratch/{task}.json",
    }
    if "tanas" in methods:
        out.add(f"results/models/{resampled(task)}.pt")
    if any(m.startswith("task2vec") for m in methods):
        out |= {f"results/task2vec/{t}.parquet" for t in (task, resampled(task))}
    return out


def fisher_outputs(tasks):
    """Fisher of every network on every task, and of every network on its own task's resample."""
    return {f"results/fisher/{a}/{b}.parquet" for a in tasks for b in tasks} | {
        f"results/fisher/{t}/{resampled(t)}.parquet" for t in tasks
    }


def transfer_outputs(tasks):
    """Every ordered pair's transfer (both settings, every replicate) and every target's from-scratch baseline."""
    return {f"results/transfer/{a}/{b}.json" for a, b in itertools.permutations(tasks, 2)} | {
        f"results/transfer/_scratch/{t}.json" for t in tasks
    }


def pair_outputs(task, tasks, methods=METHODS):
    """Per-pair outputs that involve ``task``: Fisher for every pair and of its network on its resample,
    transfer for a != b, TA-NAS for a != b and on its resample."""
    out = {f"results/fisher/{a}/{b}.parquet" for a in tasks for b in tasks if task in (a, b)}
    out.add(f"results/fisher/{task}/{resampled(task)}.parquet")
    for a, b in itertools.permutations(tasks, 2):
        if task in (a, b):
            out.add(f"results/transfer/{a}/{b}.json")
            if "tanas" in methods:
                out.add(f"results/tanas/{a}/{b}.json")
    if "tanas" in methods:
        out.add(f"results/tanas/{task}/{resampled(task)}.json")
    return out | path_records(task, tasks, methods) | bound_records(task, tasks, methods)


def bound_records(task, tasks, methods=METHODS):
    """The transferability-bound records that involve ``task``: pairs a != b, and its network on its resample."""
    if "transfer_bound" not in methods:
        return set()
    pairs = [(a, b) for a, b in itertools.permutations(tasks, 2) if task in (a, b)] + [(task, resampled(task))]
    return {f"results/bound/{a}/{b}.json" for a, b in pairs}


def path_records(task, tasks, methods=METHODS):
    """The path-length records that involve ``task``: pairs a != b, and its network on its resample."""
    pairs = [(a, b) for a, b in itertools.permutations(tasks, 2) if task in (a, b)] + [(task, resampled(task))]
    return {f"results/paths/{m}/{a}/{b}.json" for m in set(methods) & set(PATH_METHODS) for a, b in pairs}


def paths_plot(methods=METHODS):
    """The report's figure of a few transfer paths (the first task's), when a path-length method is computed."""
    return {"results/plots/paths.png"} if set(methods) & set(PATH_METHODS) else set()


def score_outputs(tasks, methods=METHODS):
    """One score job per target, reading every source's network: all of them rerun when any task changes."""
    return {f"results/scores/{t}.parquet" for t in tasks} if set(methods) & set(SCORE_METHODS) else set()


def matrix_outputs(methods):
    """Each method's matrix and noise floor (Task2Vec's job writes both variants)."""
    names = set(methods)
    if any(m.startswith("task2vec") for m in methods):
        names |= {"task2vec", "task2vec_asym"}
    out = {f"results/{kind}/{m}.parquet" for kind in ("distances", "floors") for m in names}
    return out | ({"results/plots/bound_terms.png"} if "transfer_bound" in names else set())


def evaluation_outputs(methods=METHODS):
    """What reads every matrix and the ground truth: Mantel tests, source selection, the report's first page, and
    each method's heatmap, atlas and Mantel scatter (one job per method, reading mantel.parquet)."""
    out = {"results/mantel.parquet", "results/mantel_comparison.parquet", "results/selection.parquet",
           "results/report/summary.html"}  # the report's first page reads the Mantel tests and the selection
    for m in methods:
        out |= {f"results/plots/{m}.png", f"results/plots/atlas/{m}.png", f"results/plots/mantel/{m}.png"}
    return out


def nas_pending(targets):
    """What a dry run lists after the distance matrix changes: each target's nearest-base checkpoint and, until
    it has run, the task-aware search behind it (a real run skips that search if the chosen bases stay)."""
    out = set(NAS_SUMMARY_OUTPUTS)
    for t in targets:
        out |= {f"results/nas/target/{t}/bases.json", f"results/nas/target/{t}/task_aware/0.json"}
    return out


def after_matrices(changed, methods=METHODS, targets=EXP.nas.targets):
    """The matrices (and floors) of the methods ``changed`` and what depends on them: the noise-floor tables, the
    evaluation, and the nearest bases of the NAS targets when the NAS method is among them."""
    out = matrix_outputs(changed) | {"results/floors.parquet", "results/floors_targets.parquet"}
    out |= evaluation_outputs(methods)
    if EXP.nas.method in changed:
        out |= nas_pending(targets)
    return out


def after_transfer(methods=METHODS):
    """The ground-truth table with its reliability and what depends on it: its plots and the evaluation."""
    plots = {f"results/plots/transfer/{s}_{v}.png" for s in SETTINGS for v in ("accuracy", "gain")}
    return {"results/transfer.parquet", "results/reliability.parquet"} | plots | evaluation_outputs(methods)


def added_task_outputs(task, tasks, targets=EXP.nas.targets):
    """What adding ``task`` to an experiment of ``tasks`` plans (other than its own NAS searches). "mid" draws a
    class no other task draws: that class's dataset file is prepared, and no file that other tasks read changes."""
    return (
        {"resources/datasets/digits/6.npz"}
        | own_outputs(task)
        | pair_outputs(task, tasks)
        | score_outputs(tasks)
        | after_matrices(METHODS, targets=targets)
        | after_transfer()
        | paths_plot()  # the first task's paths to the next three tasks: "mid" is the third
    )


def test_adding_a_task_schedules_only_its_own_jobs(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"].append(MID)
    edit_config(cfg)
    tasks = TASKS + ["mid"]
    pairs = pair_outputs("mid", tasks)
    # 2n + 1 pairs with the n tasks before, and the new network on its resample
    assert len([p for p in pairs if p.startswith("results/fisher/")]) == 2 * len(TASKS) + 2
    assert planned_outputs(run_dir) == added_task_outputs("mid", tasks)


def test_changing_one_task_schedules_only_jobs_involving_it(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"][1]["samples_per_class"] = 15  # task "high", and with it its resample
    edit_config(cfg)
    expected = (
        own_outputs("high")
        | pair_outputs("high", TASKS)
        | score_outputs(TASKS)
        | after_matrices(METHODS)
        | after_transfer()
        | paths_plot()  # low -> high is plotted
    )
    assert planned_outputs(run_dir) == expected | {"results/nas/base/high.json"}  # "high" is a NAS base task


def test_changing_fisher_settings_keeps_trained_networks(run_dir, edit_config):
    cfg = tiny_config()
    cfg["fisher"]["samples"] = 25
    edit_config(cfg)
    planned = planned_outputs(run_dir)
    assert planned == fisher_outputs(TASKS) | after_matrices({"ftd"})
    assert not any(p.startswith(("results/models/", "results/tasks/", "resources/", "results/transfer"))
                   for p in planned)


def test_consistency_trains_variant_networks_and_transfers_every_seed(run_dir, edit_config):
    """consistency: more networks per task (another seed, another shape) on the same examples; their Fisher on every
    task, and the Mantel tests between the FTD matrices. The transfer pairs rerun (replicate r now transfers seed
    r mod 2's network) and what reads the ground truth; the baselines from scratch and every distance stay."""
    cfg = tiny_config()
    cfg["consistency"] = {"seeds": 2, "network": {"hidden": 12}}
    edit_config(cfg)
    nets = [f"{t}@{v}" for t in TASKS for v in ("seed1", "shape")]
    expected = {f"results/models/{n}.pt" for n in nets} | {
        f"results/fisher/{n}/{b}.parquet" for n in nets for b in TASKS
    }
    pairs = {p for p in transfer_outputs(TASKS) if "/_scratch/" not in p}
    assert planned_outputs(run_dir) == expected | pairs | after_transfer() | {"results/consistency.parquet"}


def raised_version(tmp_path, module):
    """A copy of the taskdist package with ``VERSION`` in ``module`` raised by one, and the environment that makes
    the workflow import the copy."""
    parent = tmp_path / "pythonpath"
    shutil.copytree(REPO / "taskdist", parent / "taskdist", ignore=shutil.ignore_patterns("__pycache__"))
    path = parent / "taskdist" / module
    text, n = re.subn(r"^VERSION = (\d+)", lambda m: f"VERSION = {int(m[1]) + 1}", path.read_text(), count=1,
                      flags=re.M)
    assert n == 1, f"no VERSION constant in {path}"
    path.write_text(text)
    return {"PYTHONPATH": str(parent)}


STAGES = {  # module owning a stage's version -> what raising it plans on a complete run
    "methods/distances.py": lambda: after_matrices({"ftd"}),  # the FTD matrix
    # the transfer jobs and what reads their table; nothing that only reads the labelled budget
    "evaluation/transfer.py": lambda: transfer_outputs(TASKS) | after_transfer(),
    # the labelled budget's draw: the transfer jobs, and what else reads the budget: Fisher on another task's
    # data, the scores, Task2Vec embeddings, and their matrices
    "data/budget.py": lambda: transfer_outputs(TASKS) | after_transfer() | labelled_outputs(),
    "methods/coupled.py": lambda: path_outputs(TASKS) | after_matrices(set(METHODS) & set(PATH_METHODS)),
    "methods/bound.py": lambda: (set().union(*(bound_records(t, TASKS) for t in TASKS))
                                 | after_matrices({"transfer_bound"})),
}


def labelled_outputs(methods=METHODS):
    """What reads a target's labelled budget (the params carry taskdist.data.budget's version) besides the ground
    truth: Fisher pairs net != data, the score tables, Task2Vec embeddings, the path lengths, and the matrices built
    from them."""
    fisher = {p for p in fisher_outputs(TASKS) if p.split("/")[2] != p.split("/")[3].removesuffix(".parquet")}
    readers = {m for m in methods if m in ("ftd", "transfer_bound") or m in SCORE_METHODS or m.startswith("task2vec")
               or m in PATH_METHODS}
    assert not any(m.startswith("task2vec") for m in methods), "add the embeddings here when the tiny config has them"
    bounds = set().union(*(bound_records(t, TASKS, methods) for t in TASKS))
    return (fisher | score_outputs(TASKS, methods) | path_outputs(TASKS, methods) | bounds
            | after_matrices(readers, methods))


def path_outputs(tasks, methods=METHODS):
    """Every path-length record (ordered pairs and each task against its resample) and the figure of a few."""
    return set().union(*(path_records(t, tasks, methods) for t in tasks)) | paths_plot(methods)


@pytest.mark.parametrize("module", sorted(STAGES))
def test_raising_a_stage_version_plans_exactly_that_stage_and_what_depends_on_it(run_dir, tmp_path, module):
    env = raised_version(tmp_path, module)
    assert planned_outputs(run_dir, env=env) == STAGES[module]()


def test_run_compares_every_method_with_the_ground_truth(run_dir):
    transfer = matrices.read_transfer(run_dir / "results/transfer.parquet")
    replicates = range(EXP.transfer.replicates)
    rows = [(a, b, s, r) for (a, b), s, r in itertools.product(itertools.permutations(TASKS, 2), SETTINGS, replicates)]
    keys = zip(transfer.source, transfer.target, transfer.setting, transfer.replicate, strict=True)
    assert sorted(keys) == sorted(rows)
    assert {"loss", "epochs", "best_epoch", "stopped"} <= set(transfer.columns)
    assert transfer["accuracy"].between(0, 1).all() and transfer["scratch_accuracy"].between(0, 1).all()
    assert np.allclose(transfer["gain"], transfer["accuracy"] - transfer["scratch_accuracy"])
    assert (transfer["best_epoch"] <= transfer["epochs"]).all()
    reliability = io.read_parquet(run_dir / "results/reliability.parquet")
    assert sorted(reliability["setting"]) == sorted(SETTINGS)

    mantel = io.read_parquet(run_dir / "results/mantel.parquet")
    assert list(mantel.columns) == [
        "x", "y", "setting", "method", "statistic", "p_value", "permutations", "n", "alternative",
        "ci_low", "ci_high", "level", "resamples", "p_holm",
    ]
    truth = [(m, y, s, "greater") for s in SETTINGS for m in METHODS for y in ("-gain", "1-accuracy")]
    # every pair of methods once, not per setting, in either order (a two-sided test of x and y is one of y and x)
    between = [(*sorted((a, b)), "", "two-sided") for a, b in itertools.combinations(METHODS, 2)]
    rows = zip(mantel.x, mantel.y, mantel.setting, mantel.alternative, strict=True)
    rows = [(*sorted((x, y)), s, alt) if alt == "two-sided" else (x, y, s, alt) for x, y, s, alt in rows]
    assert sorted(rows) == sorted(truth + between)
    assert (mantel["n"] == len(TASKS)).all() and (mantel["permutations"] == 6).all()  # 3! = 6: exact
    assert mantel["p_value"].between(0, 1).all()

    chosen = io.read_parquet(run_dir / "results/selection.parquet")
    expected = itertools.product(SETTINGS, [*METHODS, "random", *selection.BLIND_RULES], TASKS)
    assert sorted(zip(chosen.setting, chosen.method, chosen.target, strict=True)) == sorted(expected)
    assert (chosen["regret"] >= 0).all()

    floors = io.read_parquet(run_dir / "results/floors.parquet")
    assert sorted(floors["method"]) == sorted(METHODS)
    per_target = io.read_parquet(run_dir / "results/floors_targets.parquet")
    assert sorted(zip(per_target.method, per_target.target, strict=True)) == sorted(itertools.product(METHODS, TASKS))
    for method in METHODS:
        for plot in (f"{method}.png", f"atlas/{method}.png", f"mantel/{method}.png"):
            assert (run_dir / "results/plots" / plot).stat().st_size > 1000
    for setting, value in itertools.product(SETTINGS, ("accuracy", "gain")):
        assert (run_dir / f"results/plots/transfer/{setting}_{value}.png").stat().st_size > 1000


def test_the_report_builds_from_a_run_with_what_the_install_brings(run_dir, tmp_path):
    """`snakemake --report` needs pygments, which snakemake does not depend on: the project's install brings it."""
    from importlib.metadata import requires

    assert any(r.split(">")[0].split("=")[0].strip().lower() == "pygments" for r in requires("taskdist"))
    report = tmp_path / "report.html"
    snakemake(run_dir, "--report", str(report))
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 10_000 and "mantel" in html.lower()


def test_the_reports_first_page_shows_the_runs_headline_numbers(run_dir, tmp_path):
    """The report rendered in headless Chromium: its first page (what a reader sees on opening it) shows the
    reliability of the ground truth, each method's Mantel r against -gain with its interval, p and Holm p per
    setting, the noise floors and the source selection, equal to the run's tables as the page formats them."""
    if chromium() is None:
        if os.environ.get("TASKDIST_REQUIRE_CHROMIUM") == "1":
            pytest.fail("TASKDIST_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install -y chromium)")
        pytest.skip("no chromium on PATH to render the report (apt-get install -y chromium; "
                    "TASKDIST_REQUIRE_CHROMIUM=1 makes this a failure)")
    report = tmp_path / "report.html"
    snakemake(run_dir, "--report", str(report))
    dom, screenshot = render_page(report, tmp_path / "chromium")
    assert screenshot.stat().st_size > 20_000
    shown = texts_by_id(dom)
    assert "taskdist-summary" in shown, "the summary is not on the report's first page"

    def two(v):
        return f"{v:.2f}" if np.isfinite(v) else "–"

    def three(v):
        return f"{v:.3f}" if np.isfinite(v) else "–"

    def p(v):
        return f"{v:.3g}" if np.isfinite(v) else "–"

    reliability = io.read_parquet(run_dir / "results/reliability.parquet")
    for row in reliability.itertuples():
        assert shown[f"reliability-{row.setting}-pairs"] == two(row.over_pairs)
        assert shown[f"reliability-{row.setting}-within"] == two(row.within_targets)
    mantel = io.read_parquet(run_dir / "results/mantel.parquet")
    truth = mantel[mantel["y"] == "-gain"]
    assert len(truth) == len(SETTINGS) * len(METHODS)
    for row in truth.itertuples():
        key = f"{row.setting}-{row.x}"
        assert shown[f"r-{key}"] == two(row.statistic)
        ci = f"[{row.ci_low:.2f}, {row.ci_high:.2f}]" if np.isfinite([row.ci_low, row.ci_high]).all() else "–"
        assert shown[f"ci-{key}"] == ci
        assert (shown[f"p-{key}"], shown[f"holm-{key}"]) == (p(row.p_value), p(row.p_holm))
    floors = io.read_parquet(run_dir / "results/floors.parquet")
    for row in floors.itertuples():
        assert (shown[f"floor-{row.method}-ratio"], shown[f"floor-{row.method}-within"]) == (
            two(row.ratio), two(row.within_ratio))
    chosen = io.read_parquet(run_dir / "results/selection.parquet")
    for row in chosen.itertuples():
        assert shown[f"best-{row.setting}-{row.target}"] == row.best
        named = row.method != "random" and isinstance(row.chosen, str)
        expected = f"{row.chosen} {three(row.regret)}" if named else three(row.regret)
        assert shown[f"regret-{row.setting}-{row.method}-{row.target}"] == expected
    # the commit of the code that wrote the page: this checkout's HEAD or, if a commit came during the session,
    # an ancestor of it
    commit = shown["run-commit"].split()[0]
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        assert commit == "unknown"  # not a git checkout
    else:
        assert re.fullmatch(r"[0-9a-f]{12}", commit), shown["run-commit"]
        assert subprocess.run(["git", "-C", str(REPO), "merge-base", "--is-ancestor", commit, "HEAD"]).returncode == 0
    assert shown["run-tasks"] == ", ".join(TASKS) and shown["run-replicates"] == str(EXP.transfer.replicates)


def test_nearest_lists_sources_with_their_measured_transfer(run_dir):
    out = subprocess.run(
        [sys.executable, "-m", "taskdist.cli", "nearest", "low", "--method", "ftd",
         "--results", str(run_dir / "results")],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    measured = [f"{setting}_{value}" for setting in SETTINGS for value in ("accuracy", "gain")]
    assert out[1].split() == ["source", "ftd", *measured]  # finetune_accuracy, finetune_gain, linear_...
    ftd = matrices.to_square(matrices.read_method(run_dir / "results/distances/ftd.parquet", "ftd"))
    assert [line.split()[0] for line in out[2:]] == list(ftd["low"].drop("low").sort_values().index)


# ---------------------------------------------------------------------------------------------------------------
# task-aware architecture search and the TA-NAS distance


def test_run_searches_bases_and_targets_with_the_nearest_bases_by_the_distance(run_dir):
    ftd = matrices.read_method(run_dir / "results/distances/ftd.parquet", "ftd")
    (target,) = NAS["targets"]
    chosen = records.read(run_dir / f"results/nas/target/{target}/bases.json", "bases")["bases"]
    assert chosen == selection.nearest_bases(ftd, target, NAS["base_tasks"], NAS["k"])
    base_ops = set()
    for base in NAS["base_tasks"]:
        result = records.read(run_dir / f"results/nas/base/{base}.json", "search")
        assert result["task"] == base and result["search"] == "full" and 0 <= result["test_accuracy"] <= 1
        if base in chosen:
            base_ops |= {edge["op"] for edge in result["genotype"]["edges"]}
    aware = records.read(run_dir / f"results/nas/target/{target}/task_aware/0.json", "search")
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
    curves = io.read_parquet(run_dir / "results/nas/curves.parquet")
    assert len(curves) == 3 * budget and set(curves["search"]) == {"full", "random", "task_aware"}


def test_tanas_distance_joins_the_comparison(run_dir):
    tanas = matrices.read_method(run_dir / "results/distances/tanas.parquet", "tanas")
    square = matrices.to_square(tanas, order=TASKS).to_numpy()
    assert np.all(np.diag(square) == 0) and np.all((square >= 0) & (square <= 1))
    assert (square[~np.eye(len(TASKS), dtype=bool)] > 0).all()  # at least one pruning step's share remains
    mantel = io.read_parquet(run_dir / "results/mantel.parquet")
    assert {("tanas", "-gain"), ("tanas", "1-accuracy")} <= set(zip(mantel.x, mantel.y, strict=True))


def test_adding_a_nas_target_plans_only_its_searches(run_dir, edit_config):
    cfg = tiny_config()
    cfg["tasks"].append(MID)
    cfg["nas"]["targets"].append("mid")
    edit_config(cfg)
    targets = [*NAS["targets"], "mid"]
    searches = {f"results/nas/target/mid/{search}/0.json" for search in TARGET_SEARCHES}
    expected = added_task_outputs("mid", TASKS + ["mid"], targets=targets) | searches
    assert planned_outputs(run_dir) == expected  # no base search, no other target's full or random search


def test_adding_a_seed_plans_only_that_seeds_searches(run_dir, edit_config):
    cfg = tiny_config()
    cfg["nas"]["seeds"] = 2
    edit_config(cfg)
    (target,) = NAS["targets"]
    seed_jobs = {f"results/nas/target/{target}/{search}/1.json" for search in TARGET_SEARCHES}
    assert planned_outputs(run_dir) == seed_jobs | NAS_SUMMARY_OUTPUTS  # no base search, no seed 0 search again
    cfg["nas"]["ablations"] = ["farthest"]  # an ablation: its own search per seed, nothing else
    edit_config(cfg)
    ablation = {f"results/nas/target/{target}/farthest/{seed}.json" for seed in (0, 1)}
    assert planned_outputs(run_dir) == seed_jobs | ablation | NAS_SUMMARY_OUTPUTS


@shared_run(start_from="reference")
def nas_base_added(reference, workdir):
    """The reference run completed to the NAS summary; then a task added as a NAS base, and then ``k`` raised to
    every base, each run to the NAS summary: the new task's network and Fisher pairs, the FTD matrix and the
    searches (not its transfer, TA-NAS and score jobs, which no search reads). Returns the target's nearest bases
    and the outputs each run finished: (bases before, bases after adding, finished adding, finished raising k)."""
    shutil.copytree(reference, workdir, symlinks=True)
    snakemake(workdir, "--cores", "2", NAS_SUMMARY)
    (target,) = NAS["targets"]
    bases = workdir / f"results/nas/target/{target}/bases.json"
    before = records.read(bases, "bases")["bases"]
    cfg = tiny_config()
    cfg["tasks"].append(MID)
    cfg["nas"]["base_tasks"].append("mid")
    write_config(workdir, cfg)
    added = finished_outputs(snakemake(workdir, "--cores", "2", NAS_SUMMARY).stderr)
    after = records.read(bases, "bases")["bases"]
    cfg["nas"]["k"] = 3  # every base: the chosen set changes, the base searches stay
    write_config(workdir, cfg)
    raised = finished_outputs(snakemake(workdir, "--cores", "2", NAS_SUMMARY).stderr)
    return before, after, added, raised


def test_adding_a_base_reruns_only_its_search_and_the_targets_whose_nearest_bases_change(nas_base_added):
    before, after, added, raised = nas_base_added
    (target,) = NAS["targets"]
    nas = {p for p in added if p.startswith("results/nas/")}
    changed = {f"results/nas/target/{target}/task_aware/0.json"} if after != before else set()
    summary = {p for p in NAS_SUMMARY_OUTPUTS if p.startswith("results/nas/")}
    expected = {"results/nas/base/mid.json", f"results/nas/target/{target}/bases.json"} | summary
    assert nas == expected | changed, f"nearest bases {before} -> {after}"
    assert {p for p in raised if p.startswith("results/nas/")} == {
        f"results/nas/target/{target}/bases.json",
        f"results/nas/target/{target}/task_aware/0.json",
    } | summary
