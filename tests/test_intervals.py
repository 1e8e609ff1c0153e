"""Tests of the task-level bootstrap intervals, the paired comparison and Holm (taskdist.evaluation.intervals)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, rankdata

from taskdist.evaluation.intervals import (
    MantelDifference,
    _weighted_correlations,
    holm,
    mantel_difference,
    mantel_interval,
    mean_interval,
    task_resamples,
)
from taskdist.evaluation.mantel import mantel

N_TASKS = 7


def correlated(rng: np.random.Generator, rho: float, size) -> tuple[np.ndarray, np.ndarray]:
    """Two standard normal arrays of ``size`` with correlation ``rho`` between matching elements."""
    z1, z2 = rng.standard_normal(size), rng.standard_normal(size)
    return z1, rho * z1 + math.sqrt(1.0 - rho * rho) * z2


def two_way(rng: np.random.Generator, n: int, rho_source: float, rho_target: float, rho_pair: float):
    r"""One synthetic experiment: ``x_ij = a_i + b_j + e_ij`` and ``y_ij = a'_i + b'_j + e'_ij``, ``i != j``.

    Source effects ``(a_i, a'_i)``, target effects ``(b_j, b'_j)`` and pair
    noise ``(e_ij, e'_ij)`` are independent standard bivariate normals with
    correlations ``rho_source``, ``rho_target``, ``rho_pair``. Every ordered
    pair ``(x_ij, y_ij)`` is then bivariate normal with variances 3 and
    covariance ``rho_source + rho_target + rho_pair``, so over the population
    of tasks the Mantel (Pearson) correlation is their mean, and Spearman's
    (the grade correlation of a bivariate normal) is ``(6/pi) asin(rho/2)``.
    Entries sharing a task are dependent, as in a real task x task matrix.
    """
    ax, ay = correlated(rng, rho_source, n)
    bx, by = correlated(rng, rho_target, n)
    ex, ey = correlated(rng, rho_pair, (n, n))
    return ax[:, None] + bx[None, :] + ex, ay[:, None] + by[None, :] + ey


def population(rho_source: float, rho_target: float, rho_pair: float, method: str) -> float:
    rho = (rho_source + rho_target + rho_pair) / 3.0
    return rho if method == "pearson" else 6.0 / math.pi * math.asin(rho / 2.0)


# --- coverage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_coverage_of_the_task_bootstrap_on_seven_tasks(method):
    """95% intervals cover the population correlation in 90-99% of 200 synthetic experiments of 7 tasks.

    Model: :func:`two_way` with source, target and pair correlations 0.6,
    0.2, 0.4 (population Pearson 0.4, Spearman 0.385): the task effects carry
    two thirds of the variance, so the 42 pairs are strongly dependent.
    Measured with these seeds: Pearson 96.0%, Spearman 98.5% (over 800
    experiments and four mixes of effects, Pearson 96.5-97.1%, Spearman
    98.1-99.5%: the node bootstrap is slightly conservative, the more so for
    ranks). 1,000 resamples per interval: the Monte-Carlo error of a 2.5%
    quantile is then ~0.01 of a correlation, small beside the interval's
    width (~0.9), so it moves the coverage by well under a point; the test
    takes ~1 s per method.
    """
    rho = population(0.6, 0.2, 0.4, method)
    rng = np.random.default_rng(2024)
    hits = 0
    for experiment in range(200):
        x, y = two_way(rng, N_TASKS, 0.6, 0.2, 0.4)
        low, high = mantel_interval(x, y, method=method, level=0.95, resamples=1000, seed=experiment)
        hits += low <= rho <= high
    assert 0.90 <= hits / 200 <= 0.99


def test_interval_contains_the_statistic_and_narrows_with_signal():
    rng = np.random.default_rng(5)
    x, y = two_way(rng, 10, 0.6, 0.6, 0.6)
    r = mantel(x, y, permutations=0).statistic
    low, high = mantel_interval(x, y, resamples=1000, seed=1)
    assert low <= r <= high
    strong = mantel_interval(x, x + 0.05 * rng.standard_normal(x.shape), resamples=1000, seed=1)
    assert strong[1] - strong[0] < 0.2 < high - low


# --- the resampled statistic ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_resampled_correlation_equals_the_correlation_of_the_expanded_resample(method):
    """Weights w_i w_j equal copying the tasks: every entry between distinct original tasks, with repeats."""
    rng = np.random.default_rng(0)
    n = 6
    x = rng.integers(0, 4, (n, n)).astype(float)  # ties, and constant resamples now and then
    y = rng.random((n, n))
    weights = task_resamples(n, 60, seed=3)
    got = _weighted_correlations(x, y, weights, method)
    for w, r in zip(weights, got, strict=True):
        drawn = np.repeat(np.arange(n), w.astype(int))
        pairs = [(i, j) for i in drawn for j in drawn if i != j]
        xs = np.array([x[i, j] for i, j in pairs])
        ys = np.array([y[i, j] for i, j in pairs])
        if len(set(drawn)) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
            assert np.isnan(r)
            continue
        if method == "spearman":
            xs, ys = rankdata(xs), rankdata(ys)
        assert r == pytest.approx(pearsonr(xs, ys).statistic, abs=1e-12)


def test_unit_weights_give_the_mantel_statistic_on_asymmetric_matrices():
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 5)), rng.random((5, 5))
    for method in ("pearson", "spearman"):
        r = _weighted_correlations(x, y, np.ones((1, 5)), method)[0]
        assert r == pytest.approx(mantel(x, y, method=method, permutations=0).statistic, abs=1e-12)


def test_task_resamples_are_counts_of_n_draws_and_seeded():
    w = task_resamples(7, 100, seed=4)
    assert w.shape == (100, 7) and (w.sum(axis=1) == 7).all()
    np.testing.assert_array_equal(w, task_resamples(7, 100, seed=4))
    assert not np.array_equal(w, task_resamples(7, 100, seed=5))


def test_intervals_are_reproducible_with_a_seed():
    rng = np.random.default_rng(2)
    x, y = two_way(rng, 7, 0.5, 0.5, 0.5)
    assert mantel_interval(x, y, resamples=300, seed=11) == mantel_interval(x, y, resamples=300, seed=11)
    assert mantel_interval(x, y, resamples=300, seed=11) != mantel_interval(x, y, resamples=300, seed=12)
    z = x + rng.standard_normal(x.shape)
    assert mantel_difference(x, z, y, resamples=300, seed=3) == mantel_difference(x, z, y, resamples=300, seed=3)
    assert mean_interval([1.0, 2, 4, 3], seed=9) == mean_interval([1.0, 2, 4, 3], seed=9)


def test_dataframes_are_aligned_by_label():
    rng = np.random.default_rng(3)
    labels = list("abcdef")
    x = pd.DataFrame(rng.random((6, 6)), index=labels, columns=labels)
    y = pd.DataFrame(rng.random((6, 6)), index=labels, columns=labels)
    shuffled = y.loc[labels[::-1], labels[::-1]]
    assert mantel_interval(x, shuffled, resamples=200) == mantel_interval(x, y, resamples=200)
    b = x + 0.3 * y
    assert mantel_difference(x, b.loc[labels[::-1]], shuffled, resamples=200) == mantel_difference(
        x, b, y, resamples=200
    )


def test_degenerate_cases_give_nan():
    x = np.arange(9.0).reshape(3, 3)
    # 3 tasks: only the 6 of 27 resamples that draw every task are defined, fewer than half
    assert all(np.isnan(mantel_interval(x, x.T, resamples=500)))
    # a constant matrix has no correlation
    with pytest.warns(RuntimeWarning):  # _as_matrices accepts it; mantel warns, the interval is NaN silently
        assert np.isnan(mantel(np.ones((5, 5)), np.eye(5), permutations=0).statistic)
    assert all(np.isnan(mantel_interval(np.ones((5, 5)), np.random.default_rng(0).random((5, 5)))))
    # two distinct values: resamples that keep only one of them are dropped, not counted as 0 or 1
    two = np.zeros((8, 8))
    two[0, 1] = 1.0
    low, high = mantel_interval(two, np.random.default_rng(1).random((8, 8)), resamples=400)
    assert np.isnan(low) or -1 <= low <= high <= 1
    assert all(np.isnan(mean_interval([np.nan, 1.0])))


# --- paired comparison ----------------------------------------------------------------------------


def methods_and_truth(rng: np.random.Generator, n: int, noise_a: float, noise_b: float):
    """A truth with task effects, and two methods = truth + independent noise (task and pair) of given scales."""
    ta, tb = rng.standard_normal(n), rng.standard_normal(n)
    truth = ta[:, None] + tb[None, :] + rng.standard_normal((n, n))

    def method(scale):
        return truth + scale * (rng.standard_normal(n)[:, None] + rng.standard_normal((n, n)))

    return method(noise_a), method(noise_b), truth


def test_paired_difference_detects_a_real_difference():
    """A = truth + little noise, B = truth + much noise (population r 0.97 and 0.63): p < 0.05 in >= 80%.

    Measured: 99 of 100 experiments of 7 tasks (two-sided p-value, 500 resamples).
    """
    rng = np.random.default_rng(7)
    detected = 0
    for experiment in range(100):
        a, b, truth = methods_and_truth(rng, N_TASKS, 0.3, 1.5)
        res = mantel_difference(a, b, truth, resamples=500, seed=experiment)
        assert res.difference == pytest.approx(res.r_a - res.r_b)
        detected += res.p_value < 0.05 and res.ci_low > 0
    assert detected >= 80


def test_paired_difference_keeps_its_level_under_the_null():
    """A and B equally noisy copies of the truth: two-sided p < 0.05 in at most ~5% of experiments.

    Measured: 1.5% of 200 experiments of 7 tasks (the node bootstrap is
    slightly conservative); the bound 8% allows for the binomial spread
    (sd 1.5 points at 5%). One-sided p-values are about uniform: mean 0.51, 3% below 0.05.
    """
    rng = np.random.default_rng(8)
    rejected, one_sided = 0, []
    for experiment in range(200):
        a, b, truth = methods_and_truth(rng, N_TASKS, 1.0, 1.0)
        rejected += mantel_difference(a, b, truth, resamples=500, seed=experiment).p_value < 0.05
        one_sided.append(mantel_difference(a, b, truth, resamples=500, alternative="greater", seed=experiment).p_value)
    assert rejected / 200 <= 0.08
    assert 0.4 <= np.mean(one_sided) <= 0.6


def test_identical_methods_differ_by_exactly_zero():
    rng = np.random.default_rng(9)
    a, _, truth = methods_and_truth(rng, 6, 1.0, 1.0)
    res = mantel_difference(a, a.copy(), truth, resamples=200, alternative="greater")
    assert isinstance(res, MantelDifference)
    assert res.difference == 0 and res.ci_low == res.ci_high == 0 and res.p_value == 1.0
    assert res.to_dict()["defined"] == res.defined <= 200


# --- Holm -----------------------------------------------------------------------------------------


def test_holm_against_a_hand_computed_family():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1, NaN outside the family (m = 3), ties equal
    np.testing.assert_allclose(holm([0.5, np.nan, 0.2, 0.2]), [0.6, np.nan, 0.6, 0.6])
    np.testing.assert_allclose(holm([0.9, 0.8]), [1.0, 1.0])
    assert holm([]).shape == (0,)
    assert np.isnan(holm([np.nan])).all()


def test_holm_matches_the_definition_on_random_families():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.random(rng.integers(1, 15)) ** 3
        m = p.size
        order = np.argsort(p)
        expected = np.empty(m)
        running = 0.0
        for k, i in enumerate(order):
            running = max(running, min(1.0, (m - k) * p[i]))
            expected[i] = running
        np.testing.assert_allclose(holm(p), expected)
        assert (holm(p) >= p).all()


# --- mean over targets ----------------------------------------------------------------------------


def test_mean_interval_covers_the_mean_of_seven_targets():
    """Expanded percentile interval of the mean of 7 normal values: coverage 90-99% over 300 experiments.

    Measured: 97.3% (the plain percentile interval: ~89%).
    """
    rng = np.random.default_rng(1)
    hits = sum(
        low <= 0.0 <= high
        for low, high in (mean_interval(rng.standard_normal(7), resamples=1000, seed=e) for e in range(300))
    )
    assert 0.90 <= hits / 300 <= 0.99


def test_mean_interval_skips_nan_like_summarize():
    low, high = mean_interval([1.0, np.nan, 3.0, 2.0, np.nan], resamples=500)
    assert 1.0 <= low <= 2.0 <= high <= 3.0


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"method": "kendall"}, ValueError, "method must be one of"),
        ({"level": 1.0}, ValueError, r"level must be a fraction in \(0, 1\), got 1.0"),
        ({"level": 0}, ValueError, r"level must be a fraction in \(0, 1\), got 0"),
        ({"level": "0.95"}, TypeError, r"level must be a fraction in \(0, 1\), got str"),
        ({"resamples": 1}, ValueError, "resamples must be >= 2, got 1"),
        ({"resamples": 10.0}, TypeError, "resamples must be an int, got float"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_interval_argument_errors(kwargs, exc, match):
    x = np.random.default_rng(0).random((5, 5))
    with pytest.raises(exc, match=match):
        mantel_interval(x, x.T, **kwargs)
    with pytest.raises(exc, match=match):
        mantel_difference(x, x.T, x, **kwargs)


def test_matrix_and_value_errors():
    x = np.random.default_rng(0).random((5, 5))
    with pytest.raises(ValueError, match="same shape"):
        mantel_interval(x, x[:4, :4])
    with pytest.raises(ValueError, match="NaN or infinite off-diagonal"):
        mantel_difference(x, np.where(np.eye(5, k=1) > 0, np.nan, x), x)
    with pytest.raises(ValueError, match="alternative must be one of"):
        mantel_difference(x, x, x, alternative="less")
    with pytest.raises(ValueError, match=r"p_values must lie in \[0, 1\]"):
        holm([0.2, 1.5])
    with pytest.raises(TypeError, match="p_values must be numbers"):
        holm(["a"])
    with pytest.raises(ValueError, match="one-dimensional"):
        mean_interval(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite or NaN"):
        mean_interval([1.0, np.inf])


# --- tables: the mantel job's outputs and the summary ---------------------------------------------


def experiment(n_tasks: int = 7, seed: int = 0):
    """Long matrices of every registered method and a transfer table (2 settings, 3 replicates) of ``n_tasks``.

    Every method is a noisy copy of the transferred error (negated for scores), the noise growing along the
    registry, so the first methods predict transfer best.
    """
    from taskdist.methods.registry import METHODS

    rng = np.random.default_rng(seed)
    tasks = [f"t{i}" for i in range(n_tasks)]
    error = rng.random((n_tasks, n_tasks)) * 0.5
    rows = []
    for setting in ("finetune", "linear"):
        for i, s in enumerate(tasks):
            for j, t in enumerate(tasks):
                if i != j:
                    for r in range(3):
                        accuracy = 1 - error[i, j] + 0.01 * rng.standard_normal()
                        rows.append({"source": s, "target": t, "setting": setting, "replicate": r,
                                     "accuracy": accuracy, "loss": 1.0, "scratch_accuracy": 0.5,
                                     "gain": accuracy - 0.5})
    transfer = pd.DataFrame(rows)
    found = {}
    for k, (name, spec) in enumerate(METHODS.items()):
        value = error + 0.05 * (k + 1) * rng.standard_normal(error.shape)
        value = -value if spec.kind == "score" else value
        found[name] = pd.DataFrame([{"source": s, "target": t, "value": value[i, j]}
                                    for i, s in enumerate(tasks) for j, t in enumerate(tasks)
                                    if i != j or spec.kind == "distance"])
    return found, transfer, tasks


def test_mantel_table_keeps_its_columns_and_adds_intervals_and_holm():
    from taskdist.evaluation import tables

    found, transfer, tasks = experiment()
    kw = dict(method="spearman", permutations=99, seed=1)
    table = tables.mantel_table(found, transfer, tasks, **kw, resamples=300)
    old = ["x", "y", "setting", "method", "statistic", "p_value", "permutations", "n", "alternative"]
    assert list(table.columns) == [*old, "ci_low", "ci_high", "level", "resamples", "p_holm"]
    without = tables.mantel_table(found, transfer, tasks, **kw, resamples=0)
    pd.testing.assert_frame_equal(table[old], without[old])  # the old columns keep their values
    assert without[["ci_low", "ci_high"]].isna().all().all()
    truth = table[table["setting"] != ""]
    assert len(truth) == 12 * 2 * 2
    np.testing.assert_allclose(truth["p_holm"], holm(truth["p_value"]))
    assert table.loc[table["setting"] == "", "p_holm"].isna().all()
    assert (table["ci_low"] <= table["statistic"]).all() and (table["statistic"] <= table["ci_high"]).all()
    row = table.iloc[5]
    a = tables.oriented(row["x"], found[row["x"]], tasks).to_numpy()
    t = tables.ground_truth(transfer, tasks, row["setting"])[row["y"]].to_numpy()
    assert (row["ci_low"], row["ci_high"]) == mantel_interval(a, t, method="spearman", resamples=300, seed=1)


def test_comparison_table_compares_the_two_best_methods_per_setting_and_truth():
    from taskdist.evaluation import tables

    found, transfer, tasks = experiment()
    table = tables.comparison_table(found, transfer, tasks, method="spearman", seed=2, resamples=300)
    assert list(table.columns) == list(tables.COMPARISON_COLUMNS)
    assert sorted(zip(table["setting"], table["truth"], strict=True)) == sorted(
        (s, t) for s in ("finetune", "linear") for t in tables.TRUTHS
    )
    mantel_rows = tables.mantel_table(found, transfer, tasks, method="spearman", permutations=0, seed=2,
                                      resamples=0)
    for row in table.itertuples():
        r = mantel_rows[(mantel_rows["setting"] == row.setting) & (mantel_rows["y"] == row.truth)]
        best = r.sort_values("statistic", ascending=False, kind="stable")["x"].tolist()[:2]
        assert [row.a, row.b] == best
        assert row.difference >= 0 and row.ci_low <= row.difference <= row.ci_high
        assert row.alternative == "two-sided" and 0 <= row.p_value <= 1 and row.n == 7
    one = {name: found[name] for name in list(found)[:1]}
    assert tables.comparison_table(one, transfer, tasks, method="pearson", seed=0, resamples=10).empty


def test_summary_shows_intervals_and_reads_old_mantel_tables():
    from taskdist.evaluation import tables

    found, transfer, tasks = experiment()
    mantel_rows = tables.mantel_table(found, transfer, tasks, method="pearson", permutations=99, seed=0,
                                      resamples=300)
    selection = tables.selection_table(found, transfer, tasks, seed=0)
    summary = tables.summary(mantel_rows, selection, resamples=300)
    head = ["setting", "method", "mantel_r", "mantel_p", "mantel_r_error", "mantel_p_error", "mean_regret",
            "mean_spearman", "mean_weighted_tau", "n_targets", "n_undefined"]
    assert list(summary.columns)[: len(head)] == head
    assert {"mantel_low", "mantel_high", "mantel_p_holm", "mantel_p_holm_error", *tables.SELECTION_INTERVALS} <= set(
        summary.columns
    )
    chosen = summary[summary["method"] != "random"]
    assert (chosen["mean_regret_low"] <= chosen["mean_regret"]).all()
    assert (chosen["mean_regret"] <= chosen["mean_regret_high"]).all()
    assert (chosen["mantel_p_holm"] >= chosen["mantel_p"]).all() and summary["mantel_p_holm"].isna().sum() == 2
    old = tables.summary(mantel_rows.iloc[:, :9], selection, resamples=0)  # a table from before version 4
    pd.testing.assert_frame_equal(old[head], summary[head])
    assert old["mantel_low"].isna().all() and old["mean_regret_low"].isna().all()
