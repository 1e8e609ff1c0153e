"""Tests of the source-selection metrics (taskdist.evaluation.selection)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import weightedtau

from taskdist.evaluation.selection import random_baseline, rank_sources, selection_metrics, summarize

TASKS = ["a", "b", "c", "d"]
NAN = np.nan

# rows = source, columns = target; the diagonal is never used.
TRUTH = pd.DataFrame(  # fine-tuned accuracy, higher is better
    [
        [NAN, 0.6, 0.3, 0.5],
        [0.9, NAN, 0.5, 0.5],
        [0.7, 0.5, NAN, 0.5],
        [0.8, 0.4, 0.7, NAN],
    ],
    index=TASKS,
    columns=TASKS,
)
DIST = pd.DataFrame(  # a task distance, lower is better
    [
        [0.0, 0.3, 0.5, 0.1],
        [0.1, 0.0, 0.2, 0.2],
        [0.2, 0.2, 0.0, 0.3],
        [0.3, 0.1, 0.2, 0.0],
    ],
    index=TASKS,
    columns=TASKS,
)

# Worked by hand (candidates of each target in row order):
# a: dist b .1, c .2, d .3 -> predicted b > c > d; truth b .9 > d .8 > c .7. chosen b = best b, regret 0.
#    Spearman: ranks (3, 2, 1) vs (3, 1, 2), sum d^2 = 2, rho = 1 - 6*2/(3*8) = 0.5.
#    Weighted tau (weights 1/(rank+1), pair weight = sum): ranked by prediction b0 c1 d2:
#    bc +(1 + 1/2), bd +(1 + 1/3), cd -(1/2 + 1/3) -> (3/2 + 4/3 - 5/6) / (3/2 + 4/3 + 5/6) = 2 / (11/3) = 6/11;
#    ranked by truth b0 d1 c2 gives the same, so the average is 6/11.
# b: dist a .3, c .2, d .1 -> predicted d > c > a; truth a .6 > c .5 > d .4: reversed. chosen d, best a,
#    regret .6 - .4 = .2, Spearman -1, weighted tau -1.
# c: dist a .5, b .2, d .2 -> b and d tie; b comes first in the row order, so chosen b. truth d .7 > b .5 > a .3,
#    best d, regret .2. Spearman: ranks (1, 2.5, 2.5) vs (1, 2, 3): centred (-1, .5, .5) . (-1, 0, 1) = 1.5,
#    norms sqrt(1.5) and sqrt(2) -> 1.5 / sqrt(3) = sqrt(3)/2. Weighted tau: rank by (prediction, truth)
#    lexicographically: d0 b1 a2; pair db tied in the prediction (0 in the numerator, and left out of the
#    prediction's normaliser), da +(1 + 1/3), ba +(1/2 + 1/3): 13/6 / sqrt(13/6 * (13/6 + 3/2)) = sqrt(13/22);
#    ranking by (truth, prediction) gives d0 b1 a2 again.
# d: truth .5, .5, .5 constant -> both correlations NaN; chosen a (dist .1) = best a (first of the tie), regret 0.
EXPECTED = pd.DataFrame(
    {
        "target": TASKS,
        "chosen": ["b", "d", "b", "a"],
        "best": ["b", "a", "d", "a"],
        "regret": [0.0, 0.2, 0.2, 0.0],
        "spearman": [0.5, -1.0, math.sqrt(3) / 2, NAN],
        "weighted_tau": [6 / 11, -1.0, math.sqrt(13 / 22), NAN],
    }
)


def assert_metrics_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=False, atol=1e-12, rtol=0)


# --- rank_sources ---------------------------------------------------------------------------------


def test_rank_sources_never_includes_the_target_and_breaks_ties_by_row_order():
    assert rank_sources(DIST, "a", higher_is_better=False) == ["b", "c", "d"]
    assert rank_sources(DIST, "c", higher_is_better=False) == ["b", "d", "a"]  # b, d tie at .2
    assert rank_sources(DIST, "c", higher_is_better=True) == ["a", "b", "d"]
    reordered = DIST.loc[["d", "c", "b", "a"]]
    assert rank_sources(reordered, "c", higher_is_better=False) == ["d", "b", "a"]  # d now comes first
    assert rank_sources(TRUTH, "b", higher_is_better=True) == ["a", "c", "d"]


def test_rank_sources_errors():
    with pytest.raises(ValueError, match="target 'z' is not a task"):
        rank_sources(DIST, "z", higher_is_better=False)
    with pytest.raises(TypeError, match="higher_is_better must be True or False"):
        rank_sources(DIST, "a", higher_is_better="yes")
    bad = DIST.copy()
    bad.loc["c", "a"] = NAN
    with pytest.raises(ValueError, match=r"score has NaN .* target 'a' from candidate sources \['c'\]"):
        rank_sources(bad, "a", higher_is_better=False)


# --- selection_metrics ----------------------------------------------------------------------------


def test_hand_computed_four_task_case():
    got = selection_metrics(DIST, TRUTH, predicted_higher_is_better=False)
    assert list(got.columns) == ["target", "chosen", "best", "regret", "spearman", "weighted_tau"]
    assert_metrics_equal(got, EXPECTED)


def test_lower_is_better_flips():
    similarity = -DIST  # higher is better
    loss = 1.0 - TRUTH  # lower is better
    assert_metrics_equal(selection_metrics(similarity, TRUTH, predicted_higher_is_better=True), EXPECTED)
    assert_metrics_equal(
        selection_metrics(DIST, loss, predicted_higher_is_better=False, truth_higher_is_better=False), EXPECTED
    )
    got = selection_metrics(similarity, loss, predicted_higher_is_better=True, truth_higher_is_better=False)
    assert_metrics_equal(got, EXPECTED)
    assert (got["regret"] >= 0).all()


def test_wrong_direction_negates_the_correlations():
    got = selection_metrics(DIST, TRUTH, predicted_higher_is_better=True)
    np.testing.assert_allclose(got["spearman"][:2], [-0.5, 1.0])
    assert got["weighted_tau"][1] == pytest.approx(1.0)
    assert got["chosen"].tolist()[:2] == ["d", "a"]


def test_perfect_prediction():
    got = selection_metrics(TRUTH.fillna(0.0), TRUTH, predicted_higher_is_better=True)
    assert (got["regret"] == 0).all()
    np.testing.assert_allclose(got["spearman"][:3], 1.0)
    np.testing.assert_allclose(got["weighted_tau"][:3], 1.0)


def test_truth_is_aligned_to_predicted_labels_and_diagonal_ignored():
    order = ["c", "a", "d", "b"]
    shuffled = TRUTH.loc[order, order[::-1]].copy()
    for t in TASKS:
        shuffled.loc[t, t] = 123.0  # the diagonal is never used
    assert_metrics_equal(selection_metrics(DIST, shuffled, predicted_higher_is_better=False), EXPECTED)


def test_targets_follow_predicted_row_order():
    order = ["d", "b", "c", "a"]
    got = selection_metrics(DIST.loc[order, order], TRUTH, predicted_higher_is_better=False)
    assert got["target"].tolist() == order
    # the tie for target c (b, d at .2) now goes to d, the first of the two in the new row order
    assert got.set_index("target").loc["c", "chosen"] == "d"
    assert got.set_index("target").loc["c", "regret"] == 0.0


def test_constant_prediction_gives_nan_correlations_without_warning(recwarn):
    flat = DIST.copy()
    flat["a"] = 0.5
    got = selection_metrics(flat, TRUTH, predicted_higher_is_better=False).set_index("target")
    assert got.loc["a", "chosen"] == "b"  # first in row order
    assert np.isnan(got.loc["a", "spearman"]) and np.isnan(got.loc["a", "weighted_tau"])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning | UserWarning)]


# --- random_baseline ------------------------------------------------------------------------------


def test_random_baseline_by_hand():
    got = random_baseline(TRUTH)
    # expected regret = best - mean: a .9 - .8, b .6 - .5, c .7 - .5, d .5 - .5
    expected = pd.DataFrame(
        {
            "target": TASKS,
            "chosen": ["random"] * 4,
            "best": ["b", "a", "d", "a"],
            "regret": [0.1, 0.1, 0.2, 0.0],
            "spearman": [0.0, 0.0, 0.0, NAN],
            "weighted_tau": [0.0, 0.0, 0.0, NAN],  # untied truth: exactly 0; constant truth: undefined
        }
    )
    assert_metrics_equal(got, expected)
    loss = random_baseline(1.0 - TRUTH, truth_higher_is_better=False)
    assert_metrics_equal(loss, expected)


def _enumerated_weighted_tau(g: np.ndarray) -> float:
    k = len(g)
    return float(np.mean([weightedtau(np.array(r, float), g).statistic for r in itertools.permutations(range(k))]))


def test_random_weighted_tau_is_zero_for_untied_truth():
    g = np.array([0.3, 0.9, 0.1, 0.5, 0.7])
    assert _enumerated_weighted_tau(g) == pytest.approx(0.0, abs=1e-12)


def tied_truth() -> pd.DataFrame:
    """Six tasks; only target p has ties among its candidates (the others take the exact-zero shortcut)."""
    labels = list("pqrstu")
    m = pd.DataFrame(np.random.default_rng(0).random((6, 6)), index=labels, columns=labels)
    m.loc[["q", "r", "s", "t", "u"], "p"] = [1.0, 1.0, 2.0, 0.0, 2.0]
    return m


def test_random_weighted_tau_with_ties_exact_when_enumerable():
    truth = tied_truth()
    got = random_baseline(truth, draws=120).set_index("target")  # 5! = 120 <= 120: exact
    for t in ("p", "u"):  # tied and untied
        g = truth.loc[truth.index != t, t].to_numpy()
        assert got.loc[t, "weighted_tau"] == pytest.approx(_enumerated_weighted_tau(g), abs=1e-12)
    assert (got["weighted_tau"].drop("p") == 0.0).all()
    assert got.loc["p", "weighted_tau"] != 0.0


def test_random_weighted_tau_with_ties_sampled_is_seeded():
    truth = tied_truth()
    a = random_baseline(truth, draws=119, seed=1)  # 5! = 120 > 119: sampled
    b = random_baseline(truth, draws=119, seed=1)
    c = random_baseline(truth, draws=119, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["weighted_tau"].equals(c["weighted_tau"])
    exact = random_baseline(truth, draws=120)
    np.testing.assert_allclose(a["weighted_tau"], exact["weighted_tau"], atol=0.15)  # ~3 standard errors
    pd.testing.assert_frame_equal(a.drop(columns="weighted_tau"), exact.drop(columns="weighted_tau"))


def test_random_baseline_errors():
    with pytest.raises(ValueError, match="draws must be >= 1, got 0"):
        random_baseline(TRUTH, draws=0)
    with pytest.raises(TypeError, match="draws must be an int"):
        random_baseline(TRUTH, draws=10.0)
    with pytest.raises(TypeError, match="seed must be an int or None"):
        random_baseline(TRUTH, seed=1.5)
    bad = TRUTH.copy()
    bad.loc["a", "b"] = NAN
    with pytest.raises(ValueError, match=r"truth has NaN .* target 'b' from candidate sources \['a'\]"):
        random_baseline(bad)


# --- summarize ------------------------------------------------------------------------------------


def test_summarize_skips_and_counts_undefined_targets():
    s = summarize(selection_metrics(DIST, TRUTH, predicted_higher_is_better=False))
    assert s["mean_regret"] == pytest.approx(0.1)  # (0 + .2 + .2 + 0) / 4, the NaN target included
    assert s["mean_spearman"] == pytest.approx((0.5 - 1.0 + math.sqrt(3) / 2) / 3)
    assert s["mean_weighted_tau"] == pytest.approx((6 / 11 - 1.0 + math.sqrt(13 / 22)) / 3)
    assert s["n_targets"] == 4 and s["n_undefined"] == 1
    r = summarize(random_baseline(TRUTH))
    assert r == pytest.approx(
        {"mean_regret": 0.1, "mean_spearman": 0.0, "mean_weighted_tau": 0.0, "n_targets": 4, "n_undefined": 1}
    )


def test_summarize_all_undefined_gives_nan_means():
    flat = TRUTH.copy()
    flat[:] = 0.5
    s = summarize(selection_metrics(DIST, flat, predicted_higher_is_better=False))
    assert s["mean_regret"] == 0.0
    assert np.isnan(s["mean_spearman"]) and np.isnan(s["mean_weighted_tau"])
    assert s["n_undefined"] == 4


def test_summarize_errors():
    with pytest.raises(ValueError, match=r"lacks columns \['weighted_tau'\]"):
        summarize(pd.DataFrame({"regret": [0.0], "spearman": [0.0]}))
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        summarize({"regret": [0.0]})


# --- input errors ---------------------------------------------------------------------------------


def test_different_labels():
    other = TRUTH.rename(index={"d": "e"}, columns={"d": "e"})
    with pytest.raises(ValueError, match=r"only in predicted: \['d'\], only in truth: \['e'\]"):
        selection_metrics(DIST, other, predicted_higher_is_better=False)


def test_fewer_than_three_tasks():
    two = DIST.iloc[:2, :2]
    with pytest.raises(ValueError, match="predicted has 2 tasks; expected at least 3"):
        selection_metrics(two, TRUTH.iloc[:2, :2], predicted_higher_is_better=False)
    with pytest.raises(ValueError, match="truth has 2 tasks"):
        random_baseline(TRUTH.iloc[:2, :2])


def test_nan_in_truth_or_prediction_for_a_candidate():
    bad = TRUTH.copy()
    bad.loc["b", "c"] = NAN
    with pytest.raises(ValueError, match=r"truth has NaN or infinite values for target 'c' from candidate sources"):
        selection_metrics(DIST, bad, predicted_higher_is_better=False)
    bad_pred = DIST.copy()
    bad_pred.loc["a", "d"] = np.inf
    with pytest.raises(ValueError, match=r"predicted has NaN or infinite values for target 'd'"):
        selection_metrics(bad_pred, TRUTH, predicted_higher_is_better=False)


@pytest.mark.parametrize(
    ("frame", "exc", "match"),
    [
        (DIST.iloc[:, :3], ValueError, r"predicted must be square .* got shape \(4, 3\)"),
        (DIST.rename(columns={"d": "x"}), ValueError, "same task labels on rows and columns"),
        (DIST.rename(index={"d": "a"}, columns={"d": "a"}), ValueError, "duplicated task labels"),
        (DIST.to_numpy(), TypeError, "predicted must be a pandas DataFrame"),
        (DIST.astype(str).replace("0.1", "x"), TypeError, "predicted must hold numbers"),
    ],
)
def test_malformed_matrices(frame, exc, match):
    with pytest.raises(exc, match=match):
        selection_metrics(frame, TRUTH, predicted_higher_is_better=False)


def test_flags_must_be_bool():
    with pytest.raises(TypeError, match="predicted_higher_is_better must be True or False"):
        selection_metrics(DIST, TRUTH, predicted_higher_is_better=None)
    with pytest.raises(TypeError, match="truth_higher_is_better must be True or False"):
        selection_metrics(DIST, TRUTH, predicted_higher_is_better=False, truth_higher_is_better="lower")


def test_blind_rules_read_no_target_data_and_ties_cost_their_expected_regret():
    from taskdist.evaluation.selection import blind_rules, tied_selection

    tasks = ["a", "b", "c", "d"]
    truth = pd.DataFrame([[0, 0.9, 0.5, 0.6],
                          [0.7, 0, 0.8, 0.2],
                          [0.6, 0.1, 0, 0.9],
                          [0.1, 0.3, 0.4, 0]], index=tasks, columns=tasks)  # rows = source
    sources = pd.DataFrame({"train_examples": [100, 50, 100, 10], "classes": [10, 10, 2, 2],
                            "test_accuracy": [0.9, 0.95, 0.99, 0.8]}, index=tasks)
    rules = blind_rules(sources, truth)
    assert (rules["blind_size"]["b"] == [100, 50, 100, 10]).all()
    # blind_transfer for target d: each source's mean over the targets other than d and itself
    assert rules["blind_transfer"].loc["a", "d"] == pytest.approx((0.9 + 0.5) / 2)
    assert rules["blind_transfer"].loc["c", "d"] == pytest.approx((0.6 + 0.1) / 2)
    changed = truth.copy()
    changed["d"] = [0.0, 9.0, -9.0, 0.0]  # how sources transfer to d does not move their ranking for d
    assert blind_rules(sources, changed)["blind_transfer"]["d"].equals(rules["blind_transfer"]["d"])
    size = tied_selection(rules["blind_size"], truth).set_index("target")
    # target b: a and c tie at 100 examples; the expected regret of choosing between them
    assert size.loc["b", "chosen"] == "a|c"
    assert size.loc["b", "regret"] == pytest.approx(max(0.9, 0.1, 0.3) - (0.9 + 0.1) / 2)
    # target a: sources b, c, d; c (100) is the only top
    assert size.loc["a", "chosen"] == "c" and size.loc["a", "regret"] == pytest.approx(0.7 - 0.6)
    with pytest.raises(ValueError, match="train_examples, classes and test_accuracy"):
        blind_rules(sources.drop(columns="classes"), truth)
