"""Tests of the asymmetric Mantel test (taskdist.evaluation.mantel)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from taskdist.evaluation.mantel import MantelResult, mantel

# A 3 x 3 asymmetric pair, small enough to enumerate its 6 relabellings by hand below.
X3 = np.array([[0.0, 1.0, 5.0], [2.0, 0.0, 3.0], [4.0, 7.0, 0.0]])
Y3 = np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 6.0], [5.0, 4.0, 0.0]])


def offdiag(m: np.ndarray) -> np.ndarray:
    """Off-diagonal entries, row-major, written out longhand."""
    n = len(m)
    return np.array([m[i][j] for i in range(n) for j in range(n) if i != j])


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def asymmetric(n: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).random((n, n))
    np.fill_diagonal(m, 0.0)
    return m


def hollow_symmetric(n: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).random((n, n))
    m = a + a.T
    np.fill_diagonal(m, 0.0)
    return m


# --- hand-checked cases ---------------------------------------------------------------------------


def test_3x3_statistic_and_exact_p_value_by_hand_enumeration():
    r_obs = pearson(offdiag(X3), offdiag(Y3))
    perm_stats = [pearson(offdiag(X3[list(p)][:, list(p)]), offdiag(Y3)) for p in itertools.permutations(range(3))]
    assert len(perm_stats) == 6
    for alternative, extreme in [
        ("two-sided", lambda r: abs(r) >= abs(r_obs) - 1e-12),
        ("greater", lambda r: r >= r_obs - 1e-12),
        ("less", lambda r: r <= r_obs + 1e-12),
    ]:
        res = mantel(X3, Y3, alternative=alternative)
        assert res.statistic == pytest.approx(r_obs, abs=1e-12)
        assert res.permutations == 6 and res.exact
        assert res.p_value == pytest.approx(sum(map(extreme, perm_stats)) / 6, abs=1e-15)


def test_3x3_spearman_by_hand():
    from scipy.stats import rankdata

    def rho(a, b):
        return pearson(rankdata(a), rankdata(b))

    r_obs = rho(offdiag(X3), offdiag(Y3))
    perm_stats = [rho(offdiag(X3[list(p)][:, list(p)]), offdiag(Y3)) for p in itertools.permutations(range(3))]
    res = mantel(X3, Y3, method="spearman", alternative="greater")
    assert res.statistic == pytest.approx(r_obs, abs=1e-12)
    assert res.p_value == pytest.approx(sum(r >= r_obs - 1e-12 for r in perm_stats) / 6)


def test_statistic_uses_all_off_diagonal_entries_not_a_triangle():
    # Upper triangles agree perfectly; the lower ones are anti-correlated.
    x = np.array([[0.0, 1.0, 2.0, 3.0], [9.0, 0.0, 4.0, 5.0], [8.0, 7.0, 0.0, 6.0], [2.0, 1.0, 3.0, 0.0]])
    y = x.copy()
    low = np.tril_indices(4, -1)
    y[low] = -x[low]
    res = mantel(x, y, permutations=0)
    assert res.statistic == pytest.approx(pearson(offdiag(x), offdiag(y)), abs=1e-12)
    assert res.statistic < 0.5


def test_perfectly_correlated_asymmetric_pair_gets_smallest_p():
    x = asymmetric(5, seed=3)  # 5! = 120 <= 999: exact
    y = 3.0 * x + 2.0
    greater = mantel(x, y, alternative="greater")
    assert greater.statistic == pytest.approx(1.0, abs=1e-12)
    assert greater.permutations == 120
    assert greater.p_value == pytest.approx(1 / 120)  # only the identity reaches r = 1
    two = mantel(x, y)
    assert two.p_value == pytest.approx(1 / 120)  # no relabelling of a generic matrix reaches |r| = 1 either
    less = mantel(x, y, alternative="less")
    assert less.p_value == pytest.approx(1.0)


def test_perfectly_anticorrelated_pair():
    x = asymmetric(5, seed=4)
    res = mantel(x, -x, alternative="less")
    assert res.statistic == pytest.approx(-1.0, abs=1e-12)
    assert res.p_value == pytest.approx(1 / 120)
    assert mantel(x, -x, alternative="greater").p_value == pytest.approx(1.0)


def test_diagonal_is_ignored():
    x = asymmetric(4, seed=5)
    y = asymmetric(4, seed=6)
    y_diag = y.copy()
    np.fill_diagonal(y_diag, [np.nan, 100.0, -3.0, np.inf])
    assert mantel(x, y_diag) == mantel(x, y)


# --- Spearman, alternatives, randomness -----------------------------------------------------------


def test_spearman_is_one_under_monotone_nonlinear_transform():
    x = asymmetric(6, seed=7) + 0.1
    y = np.exp(5.0 * x) ** 2
    sp = mantel(x, y, method="spearman", permutations=0)
    pe = mantel(x, y, method="pearson", permutations=0)
    assert sp.statistic == pytest.approx(1.0, abs=1e-12)
    assert pe.statistic < 0.99


def test_spearman_ties_use_average_ranks():
    from scipy.stats import spearmanr

    x = np.array([[0, 1, 1, 2], [2, 0, 3, 3], [1, 2, 0, 4], [4, 4, 1, 0]], dtype=float)
    y = asymmetric(4, seed=8)
    res = mantel(x, y, method="spearman", permutations=0)
    assert res.statistic == pytest.approx(spearmanr(offdiag(x), offdiag(y)).statistic, abs=1e-12)


def test_two_sided_p_is_bounded_by_one_sided_ones():
    x = asymmetric(7, seed=9)
    y = x + asymmetric(7, seed=10)
    two = mantel(x, y, permutations=2000, seed=1)
    greater = mantel(x, y, permutations=2000, seed=1, alternative="greater")
    less = mantel(x, y, permutations=2000, seed=1, alternative="less")
    assert greater.statistic == two.statistic == less.statistic > 0
    assert greater.p_value <= two.p_value
    # k_greater + k_less = m + (ties, e.g. a drawn identity), so p_greater + p_less = 1 + (1 + ties) / (m + 1).
    assert 1.0 + 1.0 / 2001 <= greater.p_value + less.p_value + 1e-12 <= 1.0 + 5.0 / 2001


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    x = asymmetric(8, seed=11)
    y = asymmetric(8, seed=12)
    a = mantel(x, y, permutations=499, seed=3)
    b = mantel(x, y, permutations=499, seed=3)
    c = mantel(x, y, permutations=499, seed=4)
    assert a == b
    assert 0.05 < a.p_value < 0.95 and a.p_value != c.p_value
    assert a.permutations == 499 and not a.exact
    assert a.p_value >= 1 / 500


def test_exact_versus_sampled_switch():
    x = asymmetric(4, seed=13)
    y = x + asymmetric(4, seed=14)
    exact = mantel(x, y, permutations=24)  # 4! = 24 <= 24: exact
    assert exact.permutations == 24 and exact.exact
    assert mantel(x, y, permutations=24, seed=99) == exact  # the seed is irrelevant to enumeration
    sampled = mantel(x, y, permutations=23)  # 24 > 23: sampled
    assert sampled.permutations == 23 and not sampled.exact
    assert sampled.p_value == pytest.approx(round(sampled.p_value * 24) / 24)  # (k + 1) / (m + 1)
    # Sampling many relabellings of 24 converges to the exact p-value.
    many = mantel(x, y, permutations=20000, seed=0)
    assert abs(many.p_value - exact.p_value) < 0.02


def test_exact_p_value_is_a_multiple_of_one_over_n_factorial():
    x = asymmetric(5, seed=15)
    y = asymmetric(5, seed=16)
    res = mantel(x, y)
    assert res.permutations == math.factorial(5)
    k = res.p_value * 120
    assert k == pytest.approx(round(k)) and round(k) >= 1


def test_permutations_zero_gives_statistic_only():
    res = mantel(X3, Y3, permutations=0)
    assert res.permutations == 0 and not res.exact
    assert np.isnan(res.p_value)
    assert res.statistic == pytest.approx(pearson(offdiag(X3), offdiag(Y3)))


def test_chunking_does_not_change_the_result(monkeypatch):
    import taskdist.evaluation.mantel as m

    x = asymmetric(9, seed=17)
    y = x + asymmetric(9, seed=18)
    sampled = mantel(x, y, permutations=3000, seed=5)
    exact = mantel(x[:5, :5], y[:5, :5])
    monkeypatch.setattr(m, "_CHUNK_ENTRIES", 72 * 7)  # chunks of 7 permutations at n = 9, 25 at n = 5
    assert mantel(x, y, permutations=3000, seed=5) == sampled  # rows are drawn from one sequential stream
    assert mantel(x[:5, :5], y[:5, :5]) == exact


def test_result_to_dict():
    res = mantel(X3, Y3)
    d = res.to_dict()
    assert list(d) == ["statistic", "p_value", "permutations", "n", "method", "alternative"]
    assert d["n"] == 3 and d["method"] == "pearson" and d["alternative"] == "two-sided"
    assert isinstance(res, MantelResult)
    with pytest.raises(AttributeError):
        res.statistic = 0.0  # frozen


# --- DataFrames -----------------------------------------------------------------------------------


def test_dataframe_y_is_aligned_to_x_labels():
    labels = ["a", "b", "c", "d", "e"]
    x = asymmetric(5, seed=19)
    y = x + asymmetric(5, seed=20)
    xf = pd.DataFrame(x, index=labels, columns=labels)
    yf = pd.DataFrame(y, index=labels, columns=labels)
    order = ["c", "e", "a", "d", "b"]
    shuffled = yf.loc[order, order[::-1]]  # rows and columns in different, non-original orders
    assert mantel(xf, shuffled) == mantel(x, y)
    # x's own columns are put in its index order too.
    assert mantel(xf.loc[:, labels[::-1]], yf) == mantel(x, y)
    # A plain array is taken to be in the DataFrame's order.
    assert mantel(xf, y) == mantel(x, y)


def test_dataframe_label_errors():
    labels = ["a", "b", "c"]
    xf = pd.DataFrame(X3, index=labels, columns=labels)
    other = pd.DataFrame(Y3, index=["a", "b", "z"], columns=["a", "b", "z"])
    with pytest.raises(ValueError, match=r"same tasks.*only in x: \['c'\].*only in y: \['z'\]"):
        mantel(xf, other)
    with pytest.raises(ValueError, match="same task labels on rows and columns"):
        mantel(pd.DataFrame(X3, index=labels, columns=["a", "b", "q"]), Y3)
    with pytest.raises(ValueError, match="duplicated"):
        mantel(pd.DataFrame(X3, index=["a", "a", "b"], columns=["a", "a", "b"]), Y3)


# --- errors and warnings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((3, 4)), np.zeros((3, 4)), r"x must be a square 2-D matrix, got shape \(3, 4\)"),
        (X3, np.zeros((3, 4)), r"y must be a square 2-D matrix"),
        (np.zeros(9), X3, r"x must be a square 2-D matrix, got shape \(9,\)"),
        (X3, asymmetric(4, 0), r"same shape, got \(3, 3\) and \(4, 4\)"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 0.0]]), r"n >= 3.*n = 2"),
    ],
)
def test_shape_errors(x, y, match):
    with pytest.raises(ValueError, match=match):
        mantel(x, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_off_diagonal_entries_are_rejected(bad):
    y = Y3.copy()
    y[1, 2] = bad
    with pytest.raises(ValueError, match=r"y has 1 NaN or infinite off-diagonal entries \(first at \[1, 2\]"):
        mantel(X3, y)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"method must be one of .*'kendall'"):
        mantel(X3, Y3, method="kendall")
    with pytest.raises(ValueError, match=r"alternative must be one of .*'both'"):
        mantel(X3, Y3, alternative="both")
    with pytest.raises(ValueError, match="permutations must be >= 0, got -1"):
        mantel(X3, Y3, permutations=-1)
    with pytest.raises(TypeError, match="permutations must be an int"):
        mantel(X3, Y3, permutations=9.5)
    with pytest.raises(TypeError, match="seed must be an int or None"):
        mantel(X3, Y3, seed="0")
    with pytest.raises(TypeError, match="x must be a numeric square matrix"):
        mantel([["a", "b", "c"]] * 3, Y3)


@pytest.mark.parametrize("which", ["x", "y"])
def test_constant_input_warns_and_gives_nan(which):
    const = np.full((4, 4), 2.0)
    np.fill_diagonal(const, 0.0)  # constant off the diagonal
    other = asymmetric(4, seed=21)
    args = (const, other) if which == "x" else (other, const)
    for method in ("pearson", "spearman"):
        with pytest.warns(RuntimeWarning, match=f"off-diagonal entries of {which} are constant"):
            res = mantel(*args, method=method)
        assert np.isnan(res.statistic) and np.isnan(res.p_value)
        assert res.permutations == 0


def test_no_warning_for_ordinary_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mantel(X3, Y3)


# --- agreement with scikit-bio on symmetric matrices ----------------------------------------------


@pytest.mark.parametrize("n", [6, 9])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_agrees_with_skbio_on_symmetric_distance_matrices(n, method):
    # skbio correlates the upper triangles; on symmetric input every off-diagonal value appears twice
    # among the n(n-1) entries, which leaves Pearson's r and Spearman's rho unchanged.
    skbio_mantel = pytest.importorskip("skbio.stats.distance").mantel
    x = hollow_symmetric(n, seed=n)
    y = x + 1.5 * hollow_symmetric(n, seed=100 + n)
    ours = mantel(x, y, method=method, permutations=9999, seed=0)
    stat, p, n_sk = skbio_mantel(x, y, method=method, permutations=9999, seed=1)
    assert n_sk == n
    assert ours.statistic == pytest.approx(stat, abs=1e-10)
    # n = 6: ours is exact (720 relabellings), skbio samples; n = 9: both sample 9999 with different streams.
    assert ours.permutations == (720 if n == 6 else 9999)
    assert abs(ours.p_value - p) < 0.03


def test_consistency_separates_shared_row_and_column_effects_from_shared_pairs():
    """Two matrices that share only their row and column effects agree raw, not once the effects are removed;
    two that share the pairs' own structure agree in both."""
    from taskdist.evaluation.tables import agreement_table, nearest_sources, without_row_and_column_effects

    rng = np.random.default_rng(3)
    n = 8
    effects = rng.normal(0, 3, (n, 1)) + rng.normal(0, 3, (1, n))
    pairs = rng.normal(0, 1, (n, n))
    a = effects + pairs
    residual = without_row_and_column_effects(a)
    off = ~np.eye(n, dtype=bool)
    assert np.isnan(residual[~off]).all()
    assert np.allclose(np.nanmean(residual, axis=0), 0) and np.allclose(np.nanmean(residual, axis=1), 0)
    names = [f"t{i}" for i in range(n)]

    def frame(m):
        return pd.DataFrame(m, index=names, columns=names)

    only_effects = effects + rng.normal(0, 1, (n, n))
    same_pairs = 0.5 * effects + pairs + rng.normal(0, 0.1, (n, n))
    table = agreement_table({"a": frame(a), "effects": frame(only_effects), "pairs": frame(same_pairs)},
                            method="pearson", permutations=999, seed=0)
    assert len(table) == 3
    table = table[table["x"] == "a"].set_index("y")
    assert table.loc["effects", "statistic"] > 0.7 and abs(table.loc["effects", "residual_statistic"]) < 0.4
    assert table.loc["pairs", "residual_statistic"] > 0.9 and table.loc["pairs", "residual_p_value"] < 0.01
    assert (table["targets"] == n).all()
    assert table.loc["pairs", "nearest_changed"] == int((nearest_sources(a) != nearest_sources(same_pairs)).sum())
    assert nearest_sources(np.array([[0, 5, 1], [2, 0, 3], [1, 1, 0]])).tolist() == [2, 2, 0]
