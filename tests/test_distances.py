"""Fisher Task Distance: the formula, its range and its failure modes."""

import numpy as np
import pytest

from taskdist.methods.distances import fisher_task_distance, ftd_matrix


def test_matches_the_formula_on_a_hand_computed_case():
    f_a = np.array([1.0, 1.0, 2.0])  # normalised: 1/4, 1/4, 1/2
    f_b = np.array([0.0, 2.0, 2.0])  # normalised: 0, 1/2, 1/2
    expected = np.sqrt((0.5 - 0) ** 2 + (0.5 - np.sqrt(0.5)) ** 2 + 0) / np.sqrt(2)
    assert fisher_task_distance(f_a, f_b) == pytest.approx(expected, rel=1e-12)


def test_scale_invariant_zero_for_identical_one_for_disjoint():
    rng = np.random.default_rng(0)
    f = rng.random(50)
    assert fisher_task_distance(f, 7.0 * f) == pytest.approx(0.0, abs=1e-12)
    assert fisher_task_distance(np.array([1.0, 0, 0]), np.array([0, 0, 3.0])) == pytest.approx(1.0)
    g = rng.random(50)
    assert 0 < fisher_task_distance(f, g) < 1


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        fisher_task_distance(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        fisher_task_distance(np.array([1.0, -1.0]), np.ones(2))
    with pytest.raises(ValueError, match="sums to 0"):
        fisher_task_distance(np.zeros(2), np.ones(2))


def test_matrix_uses_the_source_networks_fisher_and_is_asymmetric():
    fisher = {
        ("a", "a"): np.array([1.0, 0.0]), ("a", "b"): np.array([1.0, 1.0]),
        ("b", "b"): np.array([1.0, 1.0]), ("b", "a"): np.array([1.0, 1.0]),
    }
    df = ftd_matrix(fisher, ["a", "b"])
    value = dict(zip(zip(df.source, df.target, strict=True), df.value, strict=True))
    assert value[("a", "a")] == 0 and value[("b", "b")] == 0
    assert value[("a", "b")] == pytest.approx(np.sqrt((1 - np.sqrt(0.5)) ** 2 + 0.5) / np.sqrt(2))
    assert value[("b", "a")] == 0.0  # N_b sees no difference between the two tasks
