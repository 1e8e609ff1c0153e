"""Cheap transferability scores of a source network for a target task.

Each score is computed from the source network's outputs on the target task's
training examples (softmax outputs of the source head, their argmax, or the
penultimate features) and returns a float where **higher means better expected
transfer**. The workflow picks scores by name from :data:`SCORES` and computes
them with :func:`score_matrix_entry`.

All functions are vectorised over samples, take numpy arrays and validate their
input eagerly (``ValueError`` naming the bad value and what was expected).
Target labels may be any non-negative integers; only which samples share a
label matters, so every score is invariant to relabelling the target classes.

Why one module of about 600 lines: the four scores share their input checks and the entry point the
workflow calls; each is one function of about 60 lines with its formula, and four modules would
repeat the checks or import a fifth for them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

VERSION = 4
"""Version of the transferability scores and their tables; raised whenever their results change.

3: score tables and matrices carry their format and names (:mod:`taskdist.artifacts.matrices`);
4: score tables say how many examples each score read and the features' dimension (:func:`underdetermined`)."""

#: Tolerance on the row sums of ``source_probs`` (softmax outputs).
PROB_ATOL = 1e-4
#: Default relative cut-off of :func:`numpy.linalg.pinv` in :func:`h_score`.
H_SCORE_RCOND = 1e-10
#: Default stopping rule of the LogME fixed-point iteration (You et al. 2021, Algorithm 1).
LOGME_TOL = 1e-3
LOGME_MAX_ITER = 100
#: :func:`logme` warns about a class whose iteration hit ``max_iter`` only if its last update still changed the
#: per-sample log evidence by more than this (an optimum at alpha -> inf is approached slowly but harmlessly).
LOGME_WARN_CHANGE = 1e-6


# --------------------------------------------------------------------------- validation


def _n_samples(n: int, what: str) -> None:
    if n < 2:
        raise ValueError(f"{what} has {n} samples; at least 2 are needed")


def _float_matrix(name: str, x: object) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise ValueError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x columns), got shape {x.shape}")
    _n_samples(x.shape[0], name)
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"{name} must be finite, got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return x


def _label_codes(name: str, labels: object, n: int, n_classes: int | None = None) -> tuple[np.ndarray, int]:
    """Validate integer labels of length ``n``; return codes in ``[0, K)`` and ``K`` distinct labels."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the {n} samples, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {labels.dtype}")
    if labels.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {labels.min()}")
    if n_classes is not None:
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if labels.max() >= n_classes:
            raise ValueError(f"{name} must lie in [0, {n_classes}), got {labels.max()}")
    values, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1), int(values.size)


def _target_codes(target_labels: object, n: int, n_classes: int | None) -> tuple[np.ndarray, int]:
    codes, k = _label_codes("target_labels", target_labels, n, n_classes)
    if k < 2:
        raise ValueError(
            f"target_labels contain a single class ({np.asarray(target_labels)[0]}); a transferability score "
            "needs a target task with at least 2 classes"
        )
    return codes, k


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    return (codes[:, None] == np.arange(k)[None, :]).astype(np.float64)  # (N, K)


# --------------------------------------------------------------------------- LEEP


def leep(source_probs: np.ndarray, target_labels: np.ndarray, *, n_classes: int | None = None) -> float:
    r"""Log Expected Empirical Prediction (LEEP) of a source head on a target task.

    With :math:`\theta(x_i) \in \Delta^{C_s}` the source head's softmax output
    on target example :math:`x_i` with label :math:`y_i`,

    .. math::

        \hat P(y, z) = \frac1N \sum_i \theta(x_i)_z\,[y_i = y], \qquad
        \hat P(y \mid z) = \frac{\hat P(y, z)}{\sum_{y'} \hat P(y', z)},

        \mathrm{LEEP} = \frac1N \sum_i \log \sum_z \hat P(y_i \mid z)\,\theta(x_i)_z .

    It is the average log-likelihood of the "expected empirical predictor",
    which maps the source label distribution to target labels through
    :math:`\hat P(y\mid z)`; it is at most 0 and higher is better. Source classes that no example puts
    mass on (:math:`\hat P(z) = 0`) contribute nothing.

    Parameters
    ----------
    source_probs
        ``(N, Cs)`` non-negative rows summing to 1 (within ``1e-4``): the
        source head's softmax outputs on the target's training examples.
    target_labels
        ``(N,)`` integer target labels; at least 2 distinct classes.
    n_classes
        Optional number of target classes :math:`C_t`; if given, labels must
        lie in ``[0, n_classes)``. Classes without examples do not change the score.

    Returns
    -------
    float
        LEEP, at most 0; higher = better expected transfer.

    References
    ----------
    Nguyen, Hassner, Seeger, Archambeau. "LEEP: A New Measure to Evaluate
    Transferability of Learned Representations", ICML 2020.
    """
    theta = _float_matrix("source_probs", source_probs)  # (N, Cs)
    n = theta.shape[0]
    if np.any(theta < 0):
        raise ValueError(f"source_probs must be non-negative probabilities, got {theta.min()}")
    row_sums = theta.sum(axis=1)  # (N,)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > PROB_ATOL:
        raise ValueError(
            f"source_probs rows must sum to 1 (within {PROB_ATOL}), row {worst} sums to {row_sums[worst]}: "
            "pass softmax outputs, not logits"
        )
    y, k = _target_codes(target_labels, n, n_classes)
    joint = _one_hot(y, k).T @ theta / n  # (Ct, Cs): P(y, z)
    p_z = joint.sum(axis=0)  # (Cs,)
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # (Ct, Cs): P(y | z)
    eep = np.einsum("nz,nz->n", cond[y], theta)  # (N,): sum_z P(y_i | z) theta(x_i)_z > 0
    return float(np.mean(np.log(eep)))


# --------------------------------------------------------------------------- NCE


def nce(source_labels: np.ndarray, target_labels: np.ndarray, *, n_classes: int | None = None) -> float:
    r"""Negative Conditional Entropy (NCE) of target labels given source labels.

    With :math:`z_i` the source network's predicted (argmax) label and
    :math:`y_i` the target label of example :math:`i`,

    .. math::

        \hat P(z, y) = \frac1N \sum_i [z_i = z][y_i = y], \qquad
        \mathrm{NCE} = -H(Y \mid Z) = \sum_{z, y} \hat P(z, y) \log \frac{\hat P(z, y)}{\hat P(z)}

    in nats, with :math:`0 \log 0 = 0`. It lies in :math:`[-\log C_t, 0]`;
    0 means the source label determines the target label.

    Parameters
    ----------
    source_labels
        ``(N,)`` non-negative integer labels predicted by the source network
        (argmax of its head); any number of distinct values.
    target_labels
        ``(N,)`` integer target labels; at least 2 distinct classes.
    n_classes
        Optional number of target classes; if given, labels must lie in ``[0, n_classes)``.

    Returns
    -------
    float
        NCE, at most 0; higher = better expected transfer.

    References
    ----------
    Tran, Nguyen, Hassner. "Transferability and Hardness of Supervised
    Classification Tasks", ICCV 2019.
    """
    source_labels = np.asarray(source_labels)
    if source_labels.ndim != 1:
        raise ValueError(f"source_labels must be 1-D (one argmax label per sample), got shape {source_labels.shape}")
    n = source_labels.shape[0]
    _n_samples(n, "source_labels")
    z, cz = _label_codes("source_labels", source_labels, n)
    y, cy = _target_codes(target_labels, n, n_classes)
    joint = np.bincount(z * cy + y, minlength=cz * cy).reshape(cz, cy) / n  # (Cz, Ct): P(z, y)
    p_z = joint.sum(axis=1, keepdims=True)  # (Cz, 1), > 0 for every observed z
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / p_z)[nz])))


# --------------------------------------------------------------------------- H-score


def h_score(
    features: np.ndarray, target_labels: np.ndarray, *, rcond: float = H_SCORE_RCOND, n_classes: int | None = None
) -> float:
    r"""H-score of features for a target task.

    .. math::

        H(f) = \operatorname{tr}\bigl(\operatorname{cov}(f)^{+}\,\operatorname{cov}(\mathbb E[f \mid y])\bigr),

    where :math:`\mathbb E[f\mid y]` replaces each sample's feature by the mean
    feature of its class, both covariances use the :math:`1/N` convention
    (:math:`\operatorname{cov}(f) = \frac1N \sum_i (f_i - \bar f)(f_i - \bar f)^\top`),
    and :math:`^{+}` is the Moore-Penrose pseudo-inverse, so rank-deficient
    features are allowed.

    With :math:`\Pi` the projection onto the span of the centred features and
    :math:`P` the projection onto the centred class indicators,
    :math:`H = \operatorname{tr}(\Pi P) \in [0, C_t - 1]`. In particular, when
    the centred features span all of :math:`\mathbb R^N` minus the constant
    (e.g. :math:`N \le D` generic features) every feature set scores
    :math:`C_t - 1`: use the score with :math:`N \gg D`.

    Parameters
    ----------
    features
        ``(N, D)`` features of the target's training examples from the source network.
    target_labels
        ``(N,)`` integer target labels; at least 2 distinct classes.
    rcond
        Relative cut-off passed to :func:`numpy.linalg.pinv` (``hermitian=True``):
        eigenvalues of :math:`\operatorname{cov}(f)` below ``rcond`` times the
        largest are treated as 0. The default ``1e-10`` is well above the
        rounding noise of a computed covariance, so exactly collinear features
        are discarded instead of contributing noise/noise ratios; a feature
        direction is dropped only if its standard deviation is below
        :math:`10^{-5}` of the largest.
    n_classes
        Optional number of target classes; if given, labels must lie in ``[0, n_classes)``.

    Returns
    -------
    float
        H-score in :math:`[0, C_t - 1]`; higher = better expected transfer.

    References
    ----------
    Bao, Li, Huang, Zheng, Tan, Ma, Zhang. "An Information-Theoretic Approach
    to Transferability in Task Transfer Learning", ICIP 2019.
    """
    f = _float_matrix("features", features)  # (N, D)
    n = f.shape[0]
    if not rcond >= 0:
        raise ValueError(f"rcond must be non-negative, got {rcond}")
    y, k = _target_codes(target_labels, n, n_classes)
    f_c = f - f.mean(axis=0)  # (N, D)
    cov_f = f_c.T @ f_c / n  # (D, D)
    onehot = _one_hot(y, k)  # (N, K)
    class_means = (onehot.T @ f_c) / onehot.sum(axis=0)[:, None]  # (K, D), centred: E[f|y] - mean(f)
    g_c = class_means[y]  # (N, D): E[f | y_i] - mean(f), already mean-zero
    cov_g = g_c.T @ g_c / n  # (D, D)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=rcond, hermitian=True) @ cov_g))


# --------------------------------------------------------------------------- LogME


@dataclass(frozen=True)
class EvidenceFit:
    """Maximum-evidence fit of the Bayesian linear model of :func:`linear_evidence`.

    ``alpha`` is the prior precision (``inf`` when ``F^T y = 0``: the prior
    collapses onto ``w = 0``), ``beta`` the noise precision, ``log_evidence``
    the log marginal likelihood ``log p(y | F, alpha, beta)`` (not divided by
    N), ``iterations`` the number of fixed-point updates made,
    ``converged`` whether the stopping rule was met within ``max_iter`` updates
    and ``last_change`` the absolute change of ``log_evidence`` in the last update
    (``inf`` if ``beta`` reached its cap, see :func:`linear_evidence`).
    """

    alpha: float
    beta: float
    log_evidence: float
    iterations: int
    converged: bool
    last_change: float


def _evidence_terms(
    alpha: float, beta: float, s2: np.ndarray, x: np.ndarray, y_perp_sq: float
) -> tuple[float, float, float, np.ndarray]:
    """gamma, m^T m, ||y - F m||^2 and r = beta s^2 / alpha at (alpha, beta), in the SVD basis of F.

    With F = U diag(s) V^T (thin), x = U^T y and m = beta A^{-1} F^T y = V diag(beta s / (alpha + beta s^2)) x:
    m^T m = sum s^2 x^2 (beta / (alpha + beta s^2))^2 and
    y - F m = (I - U U^T) y + U diag(alpha / (alpha + beta s^2)) x.
    Written so that alpha = inf (F^T y = 0) and large beta give the right limits without overflow.
    """
    with np.errstate(over="ignore"):
        r = beta * s2 / alpha  # (k,)
        gamma = float(np.sum(r / (1.0 + r)))
        mtm = float(np.sum(s2 * x**2 * (beta / (alpha + beta * s2)) ** 2))
        residual = float(y_perp_sq + np.sum((x / (1.0 + r)) ** 2))
    return gamma, mtm, residual, r


def _log_evidence(alpha: float, beta: float, n: int, s2: np.ndarray, x: np.ndarray, y_perp_sq: float) -> float:
    _, mtm, residual, r = _evidence_terms(alpha, beta, s2, x, y_perp_sq)
    # D/2 log(alpha) - 1/2 log|A| with log|A| = sum_{i<=k} log(alpha + beta s_i^2) + (D - k) log(alpha)
    # equals -1/2 sum_{i<=k} log(1 + beta s_i^2 / alpha): D drops out.
    half_log_det_ratio = 0.5 * float(np.sum(np.log1p(r)))
    alpha_mtm = 0.0 if mtm == 0.0 else alpha * mtm
    return float(
        0.5 * n * np.log(beta)
        - 0.5 * n * np.log(2.0 * np.pi)
        - 0.5 * beta * residual
        - 0.5 * alpha_mtm
        - half_log_det_ratio
    )


def _fit_evidence(s2: np.ndarray, x: np.ndarray, y_perp_sq: float, n: int, tol: float, max_iter: int) -> EvidenceFit:
    """Algorithm 1 of You et al. (2021) for one target vector, in the SVD basis of F."""
    # Noise variance below rounding of y cannot be resolved: cap beta at N / (eps ||y||^2).
    beta_max = n / (np.finfo(np.float64).eps * (y_perp_sq + float(np.sum(x**2))))
    alpha, beta = 1.0, 1.0
    log_ev = _log_evidence(alpha, beta, n, s2, x, y_perp_sq)
    converged = False
    iterations = 0
    last_change = np.inf
    while iterations < max_iter:
        iterations += 1
        gamma, mtm, residual, _ = _evidence_terms(alpha, beta, s2, x, y_perp_sq)
        new_alpha = gamma / mtm if mtm > 0 else np.inf
        new_beta = (n - gamma) / residual if (n - gamma) < beta_max * residual else beta_max
        change_alpha = 0.0 if new_alpha == alpha else abs(new_alpha - alpha) / alpha
        change_beta = abs(new_beta - beta) / beta
        alpha, beta = new_alpha, new_beta
        new_log_ev = _log_evidence(alpha, beta, n, s2, x, y_perp_sq)
        last_change, log_ev = abs(new_log_ev - log_ev), new_log_ev
        if beta >= beta_max:  # y is in the span of F to rounding: the evidence still grows with beta
            last_change = np.inf
            break
        if max(change_alpha, change_beta) < tol:
            converged = True
            break
    return EvidenceFit(float(alpha), float(beta), float(log_ev), iterations, converged, float(last_change))


def _svd(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin SVD of F (N, D): U (N, k) and s^2 (k,), k = min(N, D), computed on the smaller side."""
    u, s, _ = np.linalg.svd(f, full_matrices=False)  # (N, k), (k,)
    return u, s**2


def linear_evidence(
    features: np.ndarray, y: np.ndarray, *, tol: float = LOGME_TOL, max_iter: int = LOGME_MAX_ITER
) -> EvidenceFit:
    r"""Maximum log evidence of a Bayesian linear model of real targets ``y`` on ``features``.

    The model is :math:`y = F w + \varepsilon`, :math:`w \sim N(0, \alpha^{-1} I_D)`,
    :math:`\varepsilon \sim N(0, \beta^{-1} I_N)`; its log evidence is

    .. math::

        \mathcal L(\alpha, \beta) = \frac N2 \log\beta + \frac D2 \log\alpha - \frac N2 \log 2\pi
        - \frac\beta2 \lVert y - F m \rVert^2 - \frac\alpha2 m^\top m - \frac12 \log\lvert A\rvert,

    :math:`A = \alpha I + \beta F^\top F`, :math:`m = \beta A^{-1} F^\top y`.
    It is maximised by the fixed-point iteration of You et al. (2021),
    Algorithm 1, from :math:`\alpha = \beta = 1`:

    .. math::

        \gamma = \sum_i \frac{\beta \sigma_i^2}{\alpha + \beta \sigma_i^2}, \qquad
        \alpha \leftarrow \frac{\gamma}{m^\top m}, \qquad
        \beta \leftarrow \frac{N - \gamma}{\lVert y - F m \rVert^2},

    with :math:`\sigma_i` the singular values of :math:`F`, until the relative
    change of both :math:`\alpha` and :math:`\beta` is below ``tol`` or after
    ``max_iter`` updates. One thin SVD :math:`F = U \Sigma V^\top` (on the
    smaller of the two sides, so :math:`N < D` and :math:`N > D` cost
    :math:`O(N D \min(N, D))`) makes every update :math:`O(\min(N, D))`;
    :math:`\log|A|` includes :math:`(D - \min(N, D)) \log\alpha` for the
    null space of :math:`F` when :math:`N < D`.

    If :math:`F^\top y = 0` the evidence increases with :math:`\alpha` and its
    supremum, :math:`\alpha = \infty` (``w = 0``), is returned. If ``y`` lies in
    the column span of ``F`` (always when :math:`\operatorname{rank} F = N`) the
    evidence may keep increasing with :math:`\beta` (without bound when
    :math:`\operatorname{rank} F < N`); :math:`\beta` is then capped at
    :math:`N / (\epsilon \lVert y\rVert^2)`, a noise variance at the rounding
    level of ``y``, and the fit is returned with ``converged=False`` and
    ``last_change=inf``.

    Parameters
    ----------
    features
        ``(N, D)`` design matrix :math:`F`.
    y
        ``(N,)`` real targets, not all zero.
    tol, max_iter
        Stopping rule: relative change of :math:`\alpha` and :math:`\beta` below ``tol``, at most ``max_iter`` updates.

    Returns
    -------
    EvidenceFit
        The converged :math:`\alpha`, :math:`\beta` and :math:`\mathcal L(\alpha, \beta)`.

    References
    ----------
    You, Liu, Wang, Long. "LogME: Practical Assessment of Pre-trained Models
    for Transfer Learning", ICML 2021.
    """
    f = _float_matrix("features", features)
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (f.shape[0],):
        raise ValueError(f"y must have shape ({f.shape[0]},) to match features, got shape {y.shape}")
    if not np.all(np.isfinite(y)) or not np.any(y != 0):
        raise ValueError("y must be finite and not all zero")
    _check_iteration(tol, max_iter)
    u, s2 = _svd(f)
    x = u.T @ y  # (k,)
    y_perp_sq = float(np.sum((y - u @ x) ** 2))
    return _fit_evidence(s2, x, y_perp_sq, f.shape[0], tol, max_iter)


def _check_iteration(tol: float, max_iter: int) -> None:
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter}")


def logme(
    features: np.ndarray,
    target_labels: np.ndarray,
    *,
    tol: float = LOGME_TOL,
    max_iter: int = LOGME_MAX_ITER,
    n_classes: int | None = None,
) -> float:
    r"""LogME: mean per-sample log maximum evidence of a linear model on the features.

    For each target class :math:`k` the one-vs-rest target
    :math:`y_k = [y_i = k]_i \in \{0, 1\}^N` is fitted by the Bayesian linear
    model of :func:`linear_evidence` (prior :math:`w \sim N(0, \alpha^{-1} I)`,
    noise :math:`N(0, \beta^{-1})`, :math:`\alpha, \beta` maximising the evidence
    :math:`\mathcal L_k` by the paper's fixed-point iteration), and

    .. math::

        \mathrm{LogME} = \frac1{C_t} \sum_k \frac{\mathcal L_k(\alpha_k^*, \beta_k^*)}{N}.

    One SVD of the features is shared by all classes. A ``RuntimeWarning`` is
    issued if some class does not converge within ``max_iter`` updates while its
    per-sample evidence still changes by more than :data:`LOGME_WARN_CHANGE` per
    update. (When the features carry no linear information about a class the
    evidence is maximised at :math:`\alpha \to \infty`; the iteration approaches
    it slowly, but the evidence has settled, so that case is not warned about.)

    Parameters
    ----------
    features
        ``(N, D)`` features of the target's training examples from the source network
        (no centring or scaling is applied, as in the paper).
    target_labels
        ``(N,)`` integer target labels; at least 2 distinct classes.
    tol, max_iter
        Stopping rule of Algorithm 1 (relative change of :math:`\alpha`, :math:`\beta`
        below ``1e-3``, at most 100 updates by default).
    n_classes
        Optional number of target classes; if given, labels must lie in ``[0, n_classes)``.
        Only the classes present are averaged over.

    Returns
    -------
    float
        LogME; higher = better expected transfer.

    References
    ----------
    You, Liu, Wang, Long. "LogME: Practical Assessment of Pre-trained Models
    for Transfer Learning", ICML 2021.
    """
    f = _float_matrix("features", features)  # (N, D)
    n = f.shape[0]
    codes, k = _target_codes(target_labels, n, n_classes)
    _check_iteration(tol, max_iter)
    u, s2 = _svd(f)  # (N, r), (r,)
    y_all = _one_hot(codes, k)  # (N, K)
    x_all = u.T @ y_all  # (r, K)
    y_perp_sq = np.sum((y_all - u @ x_all) ** 2, axis=0)  # (K,)
    fits = [_fit_evidence(s2, x_all[:, c], float(y_perp_sq[c]), n, tol, max_iter) for c in range(k)]
    stuck = [c for c, fit in enumerate(fits) if not fit.converged and fit.last_change / n > LOGME_WARN_CHANGE]
    if stuck:
        warnings.warn(
            f"LogME fixed-point iteration did not converge within {max_iter} updates for {len(stuck)} of {k} "
            "classes and the evidence was still changing (labels in the span of the features?); "
            "using the last iterate",
            RuntimeWarning,
            stacklevel=2,
        )
    return float(np.mean([fit.log_evidence for fit in fits]) / n)


# --------------------------------------------------------------------------- registry

Needs = Literal["probs", "argmax", "features"]


@dataclass(frozen=True)
class Score:
    """A transferability score: what it needs from the source network, how to compute it, where it comes from.

    ``needs`` is ``"probs"`` (softmax outputs of the source head), ``"argmax"``
    (the source head's predicted labels, derived from the probabilities) or
    ``"features"`` (penultimate features). ``fn(inputs, target_labels)``
    returns a float, higher = better expected transfer.
    """

    name: str
    needs: Needs
    fn: Callable[[np.ndarray, np.ndarray], float]
    reference: str


SCORES: dict[str, Score] = {
    s.name: s
    for s in [
        Score("leep", "probs", leep, "Nguyen, Hassner, Seeger, Archambeau. LEEP. ICML 2020"),
        Score("nce", "argmax", nce, "Tran, Nguyen, Hassner. Transferability and Hardness... ICCV 2019"),
        Score("h_score", "features", h_score, "Bao et al. An Information-Theoretic Approach... ICIP 2019"),
        Score("logme", "features", logme, "You, Liu, Wang, Long. LogME. ICML 2021"),
    ]
}


def underdetermined(name: str, examples: int, features: int) -> bool:
    """Whether score ``name`` is degenerate on ``examples`` labelled examples of ``features``-dimensional features.

    H-score is: with no more examples than features the centred features
    generically span every direction of the examples, and every source scores
    ``labels - 1`` (:func:`h_score`). The other scores are defined on any number
    of examples (LogME's evidence and LEEP's and NCE's counts only grow noisier).
    """
    if name not in SCORES:
        raise ValueError(f"unknown score {name!r}; expected one of {sorted(SCORES)}")
    return name == "h_score" and examples <= features


def score_matrix_entry(
    name: str,
    *,
    probs: np.ndarray | None = None,
    features: np.ndarray | None = None,
    target_labels: np.ndarray,
) -> float:
    """Score ``name`` of one source network for one target task, from the network's outputs.

    Parameters
    ----------
    name
        A key of :data:`SCORES`.
    probs
        ``(N, Cs)`` softmax outputs of the source head on the target's training
        examples; needed by ``"probs"`` and ``"argmax"`` scores (the argmax is taken here).
    features
        ``(N, D)`` penultimate features on the same examples; needed by ``"features"`` scores.
    target_labels
        ``(N,)`` integer target labels.

    Returns
    -------
    float
        The score; higher = better expected transfer.
    """
    if name not in SCORES:
        raise ValueError(f"unknown score {name!r}; expected one of {sorted(SCORES)}")
    score = SCORES[name]
    given = features if score.needs == "features" else probs
    if given is None:
        what = "features" if score.needs == "features" else "probs"
        raise ValueError(f"score {name!r} needs {what}, got None")
    if score.needs == "argmax":
        p = _float_matrix("probs", given)
        given = np.argmax(p, axis=1)  # (N,)
    return score.fn(given, target_labels)
