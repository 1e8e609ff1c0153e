"""Cheap transferability scores: hand-computed cases, orderings, invariances and input checks."""

import math
import warnings
from collections import Counter

import numpy as np
import pytest

from taskdist.methods.scores import SCORES, h_score, leep, linear_evidence, logme, nce, score_matrix_entry

# --------------------------------------------------------------------------- references written with loops


def leep_by_loops(theta, y):
    n, cs = len(theta), len(theta[0])
    classes = sorted(set(y))
    joint = {(c, z): 0.0 for c in classes for z in range(cs)}
    for i in range(n):
        for z in range(cs):
            joint[(y[i], z)] += theta[i][z] / n
    p_z = [sum(joint[(c, z)] for c in classes) for z in range(cs)]
    total = 0.0
    for i in range(n):
        eep = sum(joint[(y[i], z)] / p_z[z] * theta[i][z] for z in range(cs) if p_z[z] > 0)
        total += math.log(eep)
    return total / n


def nce_by_loops(z, y):
    n = len(z)
    joint = Counter(zip(z, y, strict=True))
    p_z = Counter(z)
    return sum(c / n * math.log(c / p_z[zz]) for (zz, _), c in joint.items())


def h_score_2d_by_loops(f, y):
    """tr(cov(f)^-1 cov(E[f|y])) for 2-D features, covariances by loops, inverse by the adjugate."""
    n = len(f)
    mean = [sum(row[j] for row in f) / n for j in range(2)]
    groups = {}
    for row, label in zip(f, y, strict=True):
        groups.setdefault(label, []).append(row)
    class_mean = {c: [sum(r[j] for r in rows) / len(rows) for j in range(2)] for c, rows in groups.items()}
    cf = [[0.0, 0.0], [0.0, 0.0]]
    cg = [[0.0, 0.0], [0.0, 0.0]]
    for row, label in zip(f, y, strict=True):
        g = class_mean[label]
        for a in range(2):
            for b in range(2):
                cf[a][b] += (row[a] - mean[a]) * (row[b] - mean[b]) / n
                cg[a][b] += (g[a] - mean[a]) * (g[b] - mean[b]) / n
    det = cf[0][0] * cf[1][1] - cf[0][1] * cf[1][0]
    inv = [[cf[1][1] / det, -cf[0][1] / det], [-cf[1][0] / det, cf[0][0] / det]]
    return sum(inv[a][b] * cg[b][a] for a in range(2) for b in range(2))


def evidence_direct(f, y, alpha, beta):
    """The paper's evidence formula with an explicit inverse and determinant of A = alpha I + beta F^T F."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.inv(a) @ f.T @ y
    sign, logdet = np.linalg.slogdet(a)
    assert sign > 0
    return (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * np.sum((y - f @ m) ** 2)
        - alpha / 2 * m @ m
        - 0.5 * logdet
    )


def gaussian_marginal(f, y, alpha, beta):
    """log N(y; 0, I/beta + F F^T/alpha): the same evidence, from the marginal of y."""
    n = len(y)
    c = np.eye(n) / beta + f @ f.T / alpha
    _, logdet = np.linalg.slogdet(c)
    return -0.5 * (y @ np.linalg.inv(c) @ y + logdet + n * np.log(2 * np.pi))


def features_with_signal(n, d, seed):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(float)
    f = rng.normal(size=(n, d))
    f[:, 0] += 2 * y
    f[:, 1] = 1 + 0.3 * rng.normal(size=n)  # a near-constant column plays the intercept
    return f, y


# --------------------------------------------------------------------------- hand-computed cases


def test_leep_hand_computed():
    theta = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    y = np.array([0, 0, 1, 1])
    # P(y, z) = [[1.5, 0.5], [0.5, 1.5]] / 4, P(z) = [1/2, 1/2], P(y|z) = [[3/4, 1/4], [1/4, 3/4]]
    # EEP_i = 0.75*0.9 + 0.25*0.1, 0.75*0.6 + 0.25*0.4, 0.25*0.2 + 0.75*0.8, 0.25*0.3 + 0.75*0.7
    expected = (math.log(0.7) + math.log(0.55) + math.log(0.65) + math.log(0.6)) / 4
    assert leep(theta, y) == pytest.approx(expected, rel=1e-12)
    assert leep_by_loops(theta.tolist(), y.tolist()) == pytest.approx(expected, rel=1e-12)


def test_leep_matches_loops_on_random_data_and_unused_source_classes():
    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.ones(5), size=40)
    theta[:, 2] = 0.0  # a source class no example puts mass on
    theta /= theta.sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, size=40)
    assert leep(theta, y) == pytest.approx(leep_by_loops(theta.tolist(), y.tolist()), rel=1e-12)


def test_leep_with_hard_predictions_equals_nce():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 4, size=50)
    y = rng.integers(0, 3, size=50)
    assert leep(np.eye(4)[z], y) == pytest.approx(nce(z, y), rel=1e-12)


def test_nce_hand_computed():
    z = np.array([0, 0, 0, 1, 1, 1])
    y = np.array([0, 0, 1, 1, 1, 1])
    # P(z=0) = 1/2 with P(y|z=0) = (2/3, 1/3); z=1 always gives y=1.
    expected = 0.5 * (2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert nce(z, y) == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(2)
    z, y = rng.integers(0, 6, size=80), rng.integers(0, 4, size=80)
    assert nce(z, y) == pytest.approx(nce_by_loops(z.tolist(), y.tolist()), rel=1e-12)


def test_h_score_hand_computed():
    f = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0], [1.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    # mean (1, 1); centred rows (-1,-1), (1,-1), (0,2), (0,0): cov(f) = diag(1/2, 3/2)
    # centred class means (0,-1), (0,1): cov(E[f|y]) = diag(0, 1); H = 1 / (3/2)
    assert h_score(f, y) == pytest.approx(2 / 3, rel=1e-12)
    rng = np.random.default_rng(3)
    f, y = rng.normal(size=(30, 2)), rng.integers(0, 3, size=30)
    f[:, 1] += f[:, 0]  # correlated columns
    assert h_score(f, y) == pytest.approx(h_score_2d_by_loops(f.tolist(), y.tolist()), rel=1e-10)


def test_h_score_one_feature_is_the_correlation_ratio_and_bounds():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=60)
    f = rng.normal(size=60) + y
    between = sum((y == c).mean() * (f[y == c].mean() - f.mean()) ** 2 for c in range(3))
    assert h_score(f[:, None], y) == pytest.approx(between / f.var(), rel=1e-10)
    # H = tr(Pi P) lies in [0, C - 1]; N <= D generic features saturate it
    assert 0 <= h_score(rng.normal(size=(60, 5)), y) <= 2
    assert h_score(rng.normal(size=(10, 20)), np.arange(10) % 3) == pytest.approx(2.0, rel=1e-8)


def test_h_score_rank_deficient_features_use_the_pseudo_inverse():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=40)
    f = rng.normal(size=(40, 2)) + y[:, None]
    redundant = np.column_stack([f, f[:, 0] + 2 * f[:, 1], np.full(40, 3.0)])  # a collinear and a constant column
    assert h_score(redundant, y) == pytest.approx(h_score(f, y), rel=1e-8)


@pytest.mark.parametrize("n, d", [(30, 4), (8, 12)], ids=["N>D", "N<D"])
def test_logme_evidence_matches_direct_formula_at_a_stationary_point(n, d):
    f, y = features_with_signal(n, d, seed=0)
    fit = linear_evidence(f, y, tol=1e-12, max_iter=10_000)
    assert fit.converged
    a, b = fit.alpha, fit.beta
    direct = evidence_direct(f, y, a, b)
    assert fit.log_evidence == pytest.approx(direct, rel=1e-9)
    assert gaussian_marginal(f, y, a, b) == pytest.approx(direct, rel=1e-9)

    # the fixed point satisfies the paper's update equations, evaluated with explicit inverses
    big_a = a * np.eye(d) + b * f.T @ f
    m = b * np.linalg.solve(big_a, f.T @ y)
    gamma = d - a * np.trace(np.linalg.inv(big_a))  # = sum beta s^2 / (alpha + beta s^2)
    assert a == pytest.approx(gamma / (m @ m), rel=1e-8)
    assert b == pytest.approx((n - gamma) / np.sum((y - f @ m) ** 2), rel=1e-8)

    # ... which is a stationary point (a maximum) of the evidence in (log alpha, log beta)
    def ev(log_a, log_b):
        return evidence_direct(f, y, np.exp(log_a), np.exp(log_b))

    h = 1e-5
    la, lb = np.log(a), np.log(b)
    grad = [(ev(la + h, lb) - ev(la - h, lb)) / (2 * h), (ev(la, lb + h) - ev(la, lb - h)) / (2 * h)]
    assert np.abs(grad) == pytest.approx([0, 0], abs=1e-6)
    assert abs((ev(la + np.log(2) + h, lb) - ev(la + np.log(2) - h, lb)) / (2 * h)) > 1e-2  # the check has power
    for da, db in [(0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1)]:
        assert ev(la + da, lb + db) < ev(la, lb)

    # the default stopping rule (relative change < 1e-3) lands on the same evidence
    assert linear_evidence(f, y).log_evidence == pytest.approx(fit.log_evidence, rel=1e-6)


@pytest.mark.parametrize("n, d", [(30, 4), (8, 12)], ids=["N>D", "N<D"])
def test_logme_is_the_mean_per_sample_evidence_over_one_vs_rest_targets(n, d):
    rng = np.random.default_rng(6)
    labels = rng.permutation(np.arange(n) % 3)
    f = rng.normal(size=(n, d)) + labels[:, None] * 0.5 + 1.0
    per_class = []
    for c in range(3):
        y = (labels == c).astype(float)
        fit = linear_evidence(f, y, tol=1e-12, max_iter=10_000)
        per_class.append(evidence_direct(f, y, fit.alpha, fit.beta) / n)
    assert logme(f, labels, tol=1e-12, max_iter=10_000) == pytest.approx(np.mean(per_class), rel=1e-9)


def test_logme_limits_zero_features_and_labels_in_the_span():
    y = np.array([0, 1, 0, 1, 1])
    # F^T y = 0: alpha -> inf, the evidence of pure noise N(0, 1/beta) with beta = N / ||y||^2
    fit = linear_evidence(np.zeros((5, 3)), y.astype(float))
    assert fit.alpha == np.inf and fit.converged
    assert fit.beta == pytest.approx(5 / 3)
    assert fit.log_evidence == pytest.approx(2.5 * math.log(5 / 3) - 2.5 * math.log(2 * math.pi) - 2.5)
    # labels exactly linear in the features: the evidence grows without bound, capped and warned about
    labels = np.repeat([0, 1, 2], 7)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        perfect = logme(np.eye(3)[labels], labels)
    assert np.isfinite(perfect)
    # uninformative zero-mean features: optimum at alpha -> inf, approached slowly but no warning
    rng = np.random.default_rng(7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(logme(rng.normal(size=(40, 5)), rng.integers(0, 2, size=40)))


# --------------------------------------------------------------------------- orderings


def test_informative_source_beats_uninformative_for_nce_and_leep():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, size=90)
    z_perfect = np.array([4, 0, 2])[y]  # source label determines the target label
    assert nce(z_perfect, y) == pytest.approx(0.0, abs=1e-15)
    assert nce(rng.integers(0, 5, size=90), y) < -0.5
    informative = 0.9 * np.eye(5)[z_perfect] + 0.02
    uninformative = np.full((90, 5), 0.2)
    assert leep(informative, y) > -0.2 > -1.0 > leep(uninformative, y)
    counts = np.bincount(y) / 90
    assert leep(uninformative, y) == pytest.approx(np.sum(counts * np.log(counts)), rel=1e-12)


def test_separating_features_beat_noise_for_h_score_and_logme():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, size=300)
    centres = rng.normal(size=(3, 8)) * 3
    separating = centres[y] + rng.normal(size=(300, 8))
    noise = rng.normal(size=(300, 8)) * np.std(separating, axis=0)
    assert h_score(separating, y) > 1.5 > 0.2 > h_score(noise, y)
    assert logme(separating, y) > logme(noise, y) + 0.1


# --------------------------------------------------------------------------- invariances


def test_relabelling_target_classes_changes_no_score():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 3, size=60)
    relabelled = np.array([7, 3, 11])[y]
    probs = rng.dirichlet(np.ones(4), size=60)
    feats = rng.normal(size=(60, 5)) + y[:, None]
    for name in SCORES:
        a = score_matrix_entry(name, probs=probs, features=feats, target_labels=y)
        b = score_matrix_entry(name, probs=probs, features=feats, target_labels=relabelled)
        assert a == pytest.approx(b, rel=1e-10), name


def test_permuting_source_classes_changes_neither_nce_nor_leep():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 3, size=60)
    probs = rng.dirichlet(np.ones(5), size=60)
    perm = rng.permutation(5)
    assert leep(probs[:, perm], y) == pytest.approx(leep(probs, y), rel=1e-12)
    z = probs.argmax(axis=1)
    assert nce(perm[z], y) == pytest.approx(nce(z, y), rel=1e-12)


# --------------------------------------------------------------------------- registry


def test_registry_and_dispatch():
    assert {name: s.needs for name, s in SCORES.items()} == {
        "leep": "probs",
        "nce": "argmax",
        "h_score": "features",
        "logme": "features",
    }
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, size=20)
    probs, feats = rng.dirichlet(np.ones(3), size=20), rng.normal(size=(20, 4))
    assert score_matrix_entry("leep", probs=probs, target_labels=y) == leep(probs, y)
    assert score_matrix_entry("nce", probs=probs, target_labels=y) == nce(probs.argmax(axis=1), y)
    assert score_matrix_entry("h_score", features=feats, target_labels=y) == h_score(feats, y)
    assert score_matrix_entry("logme", features=feats, target_labels=y) == logme(feats, y)
    with pytest.raises(ValueError, match="unknown score 'leap'"):
        score_matrix_entry("leap", probs=probs, target_labels=y)
    with pytest.raises(ValueError, match="'logme' needs features"):
        score_matrix_entry("logme", probs=probs, target_labels=y)
    with pytest.raises(ValueError, match="'nce' needs probs"):
        score_matrix_entry("nce", features=feats, target_labels=y)


# --------------------------------------------------------------------------- input checks

P = np.array([[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]])
Y = np.array([0, 1, 1])
F = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, 1.0]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: leep(P, np.array([0, 1])), r"target_labels must have shape \(3,\)"),
        (lambda: leep(P[0], Y), "source_probs must be 2-D"),
        (lambda: leep(P, Y.astype(float)), "target_labels must be integers, got dtype float64"),
        (lambda: leep(P, np.array([0, -1, 1])), "non-negative class indices, got -1"),
        (lambda: leep(P, np.array([0, 1, 2]), n_classes=2), r"must lie in \[0, 2\), got 2"),
        (lambda: leep(P, Y, n_classes=1), "n_classes must be at least 2"),
        (lambda: leep(P * 2, Y), "row 0 sums to 2.0"),
        (lambda: leep(np.array([[1.5, -0.5], [0.2, 0.8], [1.0, 0.0]]), Y), "non-negative probabilities, got -0.5"),
        (lambda: leep(P[:1], Y[:1]), "at least 2 are needed"),
        (lambda: leep(np.array([[np.nan, 1.0], [0.2, 0.8], [1.0, 0.0]]), Y), r"finite, got nan at index \(0, 0\)"),
        (lambda: leep(P, np.array([1, 1, 1])), "single class"),
        (lambda: leep(np.array([["a", "b"]] * 3), Y), "real numeric array"),
        (lambda: nce(np.array([0, 1]), Y), r"target_labels must have shape \(2,\)"),
        (lambda: nce(np.array([[0, 1, 1]]), Y), "source_labels must be 1-D"),
        (lambda: nce(np.array([0.0, 1.0, 1.0]), Y), "source_labels must be integers"),
        (lambda: nce(np.array([0, -2, 1]), Y), "source_labels must be non-negative"),
        (lambda: nce(np.array([0]), np.array([0])), "at least 2 are needed"),
        (lambda: nce(np.array([0, 1, 1]), np.array([2, 2, 2])), "single class"),
        (lambda: h_score(F, np.array([0, 1])), r"target_labels must have shape \(3,\)"),
        (lambda: h_score(F[:, 0], Y), "features must be 2-D"),
        (lambda: h_score(np.array([[np.inf, 0.0]] * 3), Y), "features must be finite, got inf"),
        (lambda: h_score(F, np.zeros(3, dtype=int)), "single class"),
        (lambda: h_score(F, Y, rcond=-1.0), "rcond must be non-negative"),
        (lambda: logme(F, np.array([0, 1])), r"target_labels must have shape \(3,\)"),
        (lambda: logme(F[:1], Y[:1]), "at least 2 are needed"),
        (lambda: logme(np.array([[np.nan, 0.0]] * 3), Y), "features must be finite"),
        (lambda: logme(F, np.ones(3, dtype=int)), "single class"),
        (lambda: logme(F, Y, tol=0.0), "tol must be positive"),
        (lambda: logme(F, Y, max_iter=0), "max_iter must be a positive integer"),
        (lambda: linear_evidence(F, np.zeros(3)), "not all zero"),
        (lambda: linear_evidence(F, np.ones(2)), r"y must have shape \(3,\)"),
    ],
)
def test_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_probabilities_within_tolerance_are_accepted():
    assert np.isfinite(leep(P * (1 + 5e-5), Y))
