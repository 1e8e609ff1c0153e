"""taskdist.nas.claim and the searches' anytime traces: traces are monotone and cost-ordered; cost-to-reach,
the median interval and the paired sign-flip test on synthetic traces whose answer is known."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from taskdist import aggregates
from taskdist.artifacts import io, records
from taskdist.config import defaults
from taskdist.data import datasets
from taskdist.nas import claim
from taskdist.nas.fuse import TRACE_COLUMNS, anytime, fuse, random_search
from taskdist.nas.replicates import farthest_bases, random_bases, replicate_seed
from taskdist.nas.space import SearchSpace
from taskdist.specs import FuseSpec, ImageSpec, from_params

pytestmark = pytest.mark.usefixtures("one_thread")

SEARCH = from_params(FuseSpec, defaults("nas", "search"))
TINY = replace(
    SEARCH,
    stages=3,
    rounds=1,
    epochs=1,
    candidates=1,
    nodes=3,
    net=replace(SEARCH.net, width=4, cells=1),
    batch_size=32,
    final_epochs=1,
)


@pytest.fixture(scope="module")
def digits():
    """3 classes of scikit-learn digits at 12x12: train 60, val 30."""
    ds = datasets.load("digits", ImageSpec(size=12))
    rng = np.random.default_rng(0)
    idx = rng.permutation(
        np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), 30, replace=False) for c in range(3)])
    )
    x = torch.from_numpy(ds.images[idx]).float().div(127.5).sub(1.0)
    y = torch.from_numpy(ds.labels[idx]).long()
    return (x[:60], y[:60]), (x[60:], y[60:])


# ---------------------------------------------------------------------------------------------- traces


def _assert_trace(history: pd.DataFrame, per_candidate: int) -> None:
    assert list(history["candidates_trained"]) == list(range(1, len(history) + 1))
    assert list(history["epochs"]) == [per_candidate * (k + 1) for k in range(len(history))]
    for column in ("cpu_s", "best_val_accuracy"):
        assert (np.diff(history[column].to_numpy()) >= 0).all(), column
    assert history["cpu_s"].iloc[0] > 0
    np.testing.assert_allclose(history["best_val_accuracy"], np.maximum.accumulate(history["val_accuracy"]))
    claim.check_trace(history)


def test_fuse_and_random_search_traces_are_monotone_and_cost_ordered(digits):
    train_split, val_split = digits
    found = fuse(SearchSpace.full(), train_split, val_split, spec=TINY, seed=1)
    assert len(found.history) == TINY.candidates_trained == 6  # 3 stages of 2: (the incumbent or) a fresh cell + 1
    _assert_trace(found.history, TINY.epochs_per_candidate)
    assert set(TRACE_COLUMNS) <= set(found.history.columns)
    rand = random_search(SearchSpace.full(), train_split, val_split, spec=TINY, seed=1, n_candidates=3, epochs=2)
    _assert_trace(rand.history, 2)


def test_anytime_spreads_a_stage_and_never_lets_a_cost_or_the_best_decrease():
    history = pd.DataFrame({"stage": [0, 0, 1, 1], "val_accuracy": [0.5, 0.4, 0.7, 0.6]})
    trace = anytime(history, 2, [1.0, 2.0, 1.5, 4.0])  # a clock that stepped back is held
    assert trace["cpu_s"].tolist() == [1.0, 2.0, 2.0, 4.0]
    assert trace["best_val_accuracy"].tolist() == [0.5, 0.5, 0.7, 0.7]
    assert trace["epochs"].tolist() == [2, 4, 6, 8]


def test_check_trace_rejects_what_is_not_a_trace():
    good = pd.DataFrame(
        {
            "candidates_trained": [1, 2],
            "epochs": [1, 2],
            "cpu_s": [0.1, 0.2],
            "val_accuracy": [0.5, 0.4],
            "best_val_accuracy": [0.5, 0.5],
        }
    )
    claim.check_trace(good)
    with pytest.raises(ValueError, match="cpu_s must be finite and non-decreasing"):
        claim.check_trace(good.assign(cpu_s=[0.2, 0.1]))
    with pytest.raises(ValueError, match="running maximum"):
        claim.check_trace(good.assign(best_val_accuracy=[0.5, 0.6]))


# ---------------------------------------------------------------------------------------------- synthetic traces


def synthetic(task: str, search: str, seed: int, accuracies, cpu_per_candidate: float = 1.0) -> pd.DataFrame:
    acc = np.asarray(accuracies, dtype=float)
    n = np.arange(1, len(acc) + 1)
    return pd.DataFrame(
        {
            "task": task,
            "search": search,
            "seed": seed,
            "candidates_trained": n,
            "epochs": 2 * n,
            "cpu_s": cpu_per_candidate * n,
            "val_accuracy": acc,
            "best_val_accuracy": np.maximum.accumulate(acc),
        }
    )


def known_curves(seeds: int = 6) -> pd.DataFrame:
    """Target ``t``, 8 candidates per search. Full climbs to 0.90 at its last candidate; task-aware reaches 0.90
    at candidate 3 (and stays above full at 4 candidates) in every seed; random never reaches it; on target
    ``u`` task-aware is never ahead of full."""
    frames = []
    for r in range(seeds):
        bump = 0.001 * r
        frames += [
            synthetic("t", "full", r, [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9 + bump]),
            synthetic("t", "task_aware", r, [0.6, 0.8, 0.92 + bump, 0.9, 0.9, 0.9, 0.9, 0.9], 0.5),
            synthetic("t", "random", r, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]),
            synthetic("t", "farthest", r, [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9 + bump, 0.9]),
            synthetic("u", "full", r, [0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]),
            synthetic("u", "task_aware", r, [0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.9, 0.9]),
            synthetic("u", "random", r, [0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]),
        ]
    return pd.concat(frames, ignore_index=True)


def test_cost_to_reach_and_best_at_on_a_known_trace():
    trace = synthetic("t", "s", 0, [0.5, 0.7, 0.6, 0.9], cpu_per_candidate=2.0)
    assert claim.cost_to_reach(trace, 0.7) == 2 and claim.cost_to_reach(trace, 0.7, "cpu_s") == 4.0
    assert claim.cost_to_reach(trace, 0.9) == 4 and claim.cost_to_reach(trace, 0.95) == math.inf
    assert claim.best_at(trace, 3) == 0.7 and claim.best_at(trace, 3.5) == 0.7 and claim.best_at(trace, 4) == 0.9
    assert math.isnan(claim.best_at(trace, 0.5))


def test_median_interval_uses_order_statistics_with_their_coverage():
    med, low, high, cover = claim.median_interval([3, 1, 2, 5, 4], 0.9)
    assert (med, low, high) == (3.0, 1.0, 5.0) and cover == pytest.approx(1 - 2 / 32)
    med, low, high, cover = claim.median_interval(range(1, 12), 0.95)  # n = 11: (x_2, x_10) covers 98.8 %
    assert (med, low, high) == (6.0, 2.0, 10.0) and cover == pytest.approx(1 - 2 * 12 / 2048)
    med, low, high, _ = claim.median_interval([2, math.inf, math.inf], 0.5)
    assert med == math.inf and low == 2
    assert all(math.isnan(v) for v in claim.median_interval([], 0.95))


def test_sign_flip_test_is_exact():
    assert claim.sign_flip_test([0.1] * 5) == pytest.approx(1 / 32)  # only the observed signs are as large
    assert claim.sign_flip_test([0.1] * 5, alternative="less") == 1.0
    assert claim.sign_flip_test([0.1, -0.1]) == pytest.approx(3 / 4)
    assert claim.sign_flip_test([0.0, 0.0, 0.0]) == 1.0
    assert claim.sign_flip_test([0.2, 0.1, -0.05], alternative="two-sided") == pytest.approx(4 / 8)  # sums ±0.35, ±0.25
    assert math.isnan(claim.sign_flip_test([]))
    with pytest.raises(ValueError, match="alternative"):
        claim.sign_flip_test([0.1], alternative="bigger")


def test_reach_table_finds_the_known_costs():
    reach = claim.reach_table(known_curves(), level=0.9).set_index(["target", "search"])
    t = reach.loc[("t", "task_aware")]
    assert (t["median_candidates"], t["reached"], t["seeds"], t["full_candidates"]) == (3, 6, 6, 8)
    assert t["median_cpu_s"] == 1.5 and t["full_cpu_s"] == 8.0
    assert reach.loc[("t", "full"), "median_candidates"] == 8  # where it first attained its final accuracy
    assert reach.loc[("t", "random"), "median_candidates"] == math.inf and reach.loc[("t", "random"), "reached"] == 0
    assert reach.loc[("t", "farthest"), "median_candidates"] == 7
    assert (
        reach.loc[("u", "task_aware"), "median_candidates"] == 6 and reach.loc[("u", "full"), "median_candidates"] == 3
    )


def test_paired_table_and_verdicts_give_the_known_answer():
    curves = known_curves()
    paired = claim.paired_table(curves, fraction=0.5).set_index(["target", "against", "fraction"])
    half = paired.loc[("t", "full", 0.5)]
    assert half["candidates"] == 4 and half["seeds"] == 6 and (half["wins"], half["losses"]) == (6, 0)
    assert half["p"] == pytest.approx(1 / 64)  # every seed better: the smallest p of 6 paired seeds
    assert paired.loc[("t", "random", 0.5), "p"] == pytest.approx(1 / 64)
    assert paired.loc[("u", "full", 0.5), "losses"] == 6 and paired.loc[("u", "full", 0.5), "p"] == 1.0
    whole = paired.loc[("t", "full", 1.0)]
    assert whole["candidates"] == 8 and whole["ties"] + whole["wins"] + whole["losses"] == 6
    reach = claim.reach_table(curves)
    lines = claim.verdicts(reach, claim.paired_table(curves, fraction=0.5), fraction=0.5, level=0.95)
    assert len(lines) == 2
    assert lines[0].startswith("- **t**: task_aware reached") and "p = 0.016" in lines[0]
    assert lines[0].endswith("the claim holds.")
    assert lines[1].startswith("- **u**: task_aware did not reach") and lines[1].endswith("the claim is not shown.")


def test_with_too_few_seeds_the_claim_is_not_shown():
    curves = known_curves(seeds=3)  # the smallest one-sided p of 3 seeds is 1/8
    lines = claim.verdicts(claim.reach_table(curves), claim.paired_table(curves), fraction=0.5, level=0.95)
    assert "p = 0.125" in lines[0] and lines[0].endswith("the claim is not shown.")


def test_winners_table_over_seeds():
    summary = pd.DataFrame(
        {
            "task": "t",
            "role": "target",
            "search": ["full", "full", "random"],
            "seed": [0, 1, 0],
            "test_accuracy": [0.8, 0.9, 0.7],
            "val_accuracy": 0.5,
            "params": 10,
            "search_cpu_s": 2.0,
            "final_seeds": 3,
        }
    )
    table = claim.winners_table(summary).set_index("search")
    assert table.loc["full", "test_mean"] == pytest.approx(0.85)
    assert table.loc["full", "test_sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert table.loc["random", "seeds"] == 1 and table.loc["full", "final_trainings"] == 3


# ---------------------------------------------------------------------------------------------- seeds and bases


def test_replicate_seeds_and_the_ablations_bases():
    assert replicate_seed(17, 0) == 17  # one seed: the searches of before
    seeds = [replicate_seed(17, r) for r in range(5)]
    assert len(set(seeds)) == 5 and seeds == [replicate_seed(17, r) for r in range(5)]
    with pytest.raises(ValueError, match="replicate"):
        replicate_seed(17, -1)
    d = pd.DataFrame(
        [("a", "t", 0.1), ("b", "t", 0.5), ("c", "t", 0.3), ("d", "t", 0.9)], columns=["source", "target", "value"]
    )
    assert farthest_bases(d, "t", ["a", "b", "c", "d"], 2) == ["d", "b"]
    draws = {tuple(random_bases(["a", "b", "c", "d"], 2, s)) for s in range(30)}
    assert len(draws) > 3 and all(len(set(x)) == 2 for x in draws)
    assert random_bases(["d", "c", "b", "a"], 2, 5) == random_bases(["a", "b", "c", "d"], 2, 5)


def test_summary_and_curves_from_records_with_seeds(tmp_path):
    paths = []

    def write(task, search, role, seed, acc):
        history = synthetic(task, search, seed, acc).drop(columns=["task", "search", "seed"]).to_dict("records")
        values = {
            "bases": [],
            "space": {"ops": ["skip_connect"]},
            "genotype": {"edges": []},
            "params": 10,
            "val_accuracy": 0.5,
            "test_accuracy": 0.4,
            "candidates_trained": len(acc),
            "search_seconds": 1.0,
            "final_seconds": 2.0,
            "history": history,
            "seed": seed,
        }
        path = tmp_path / role / task / search / f"{seed}.json"
        records.write(values, path, "search", task=task, search=search, role=role)
        paths.append(path)

    write("b", "full", "base", 0, [0.5])
    for seed in (0, 1):
        for search in ("task_aware", "full", "random", "farthest"):
            write("t", search, "target", seed, [0.5, 0.6])
    table = aggregates.nas_summary(paths)
    assert len(table) == 9 and table[table.search == "farthest"]["seed"].tolist() == [0, 1]
    curves = aggregates.nas_curves(paths)
    assert len(curves) == 16 and set(curves["search"]) == {"task_aware", "full", "random", "farthest"}
    with pytest.raises(io.ArtifactError, match="different seeds"):
        aggregates.nas_summary(paths[:-1])
    with pytest.raises(io.ArtifactError, match="two search records"):
        aggregates.nas_summary([*paths, paths[1]])


# ---------------------------------------------------------------------------------------------- generated tables


def test_a_nas_claim_snapshot_renders_its_blocks_and_leaves_the_others(tmp_path):
    from taskdist import cli, report_tables

    results = tmp_path / "run" / "results"
    curves = known_curves()
    summary = pd.DataFrame(
        [
            {
                "task": t,
                "role": "target",
                "search": s,
                "seed": r,
                "bases": "a,b" if s != "full" else "",
                "ops": "skip_connect,none" if s != "full" else "skip_connect,none,max_pool_3x3",
                "genotype": "{}",
                "params": 10,
                "val_accuracy": 0.9,
                "test_accuracy": 0.8 + 0.01 * r,
                "candidates_trained": 8,
                "search_seconds": 1.0,
                "final_seconds": 1.0,
                "final_seeds": 3,
                "search_cpu_s": 8.0,
            }
            for (t, s, r), _ in curves.groupby(["task", "search", "seed"])
        ]
    )
    reach, paired = claim.reach_table(curves), claim.paired_table(curves)
    for name, table in {
        "summary": summary,
        "curves": curves,
        "reach": reach,
        "paired": paired,
        "winners": claim.winners_table(summary),
    }.items():
        io.write_parquet(table, results / "nas" / f"{name}.parquet")
    (tmp_path / "run" / "config.yaml").write_text("nas: {compare_at: 0.5, level: 0.95}\n")
    out = tmp_path / "snap"
    assert cli.main(["tables", "snapshot", str(results), "--out", str(out), "--kind", "nas_claim"]) == 0
    with pytest.raises(ValueError, match="does not exist"):
        report_tables.snapshot(results, tmp_path / "other")  # not a run of the default experiment
    readme = tmp_path / "README.md"
    untouched = "<!-- generated:headline -->\nwhatever the default run's snapshot wrote\n<!-- /generated:headline -->\n"
    blocks = ["answer", "curves", "reach", "paired", "winners", "spaces", "run", "costs"]
    readme.write_text(
        untouched + "".join(f"<!-- generated:nas_claim-{b} -->\n<!-- /generated:nas_claim-{b} -->\n" for b in blocks)
    )
    results_md = tmp_path / "results.md"
    results_md.write_text("no blocks\n")
    argv = ["tables", "render", str(out), "--readme", str(readme), "--results", str(results_md)]
    assert cli.main([*argv, "--check"]) == 1
    assert cli.main(argv) == 0 and cli.main([*argv, "--check"]) == 0
    text = readme.read_text()
    assert text.startswith(untouched)  # a run snapshot's block is not this snapshot's to fill
    assert "- **t**: task_aware reached" in text and "the claim holds." in text and "the claim is not shown." in text
    assert "| t | task_aware | 6 |" in text  # the curves at four budgets, the reach table: 6 seeds
    assert "| t | random | 6 | 0 | never | never | never |" in text  # random never reaches full's accuracy
    assert (out / "nas_claim-paired.csv").is_file()
