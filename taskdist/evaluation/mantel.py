"""Mantel test for square task x task matrices, symmetric or not.

Task distances such as the Fisher Task Distance are asymmetric, so the test
correlates all ``n(n-1)`` off-diagonal entries (not one triangle) and each
permutation relabels the rows and columns of one matrix jointly.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from taskdist.checks import check_choice, check_int, square_frame

CORRELATIONS = ("pearson", "spearman")
ALTERNATIVES = ("two-sided", "greater", "less")

# Permuted statistics within this (absolute) distance of the observed one count as ties,
# i.e. "as extreme": correlations lie in [-1, 1], and reordering a dot product changes it by ~1e-15.
_TIE_TOL = 1e-12
# Number of gathered entries per chunk (m_chunk * n(n-1)); bounds memory to a few tens of MB.
_CHUNK_ENTRIES = 1 << 21


@dataclass(frozen=True)
class MantelResult:
    """Outcome of :func:`mantel`.

    Attributes
    ----------
    statistic
        Correlation of the off-diagonal entries (NaN if either matrix is constant there).
    p_value
        Permutation p-value (NaN when ``permutations == 0`` or the statistic is NaN).
    permutations
        Number of permutations actually used: ``n!`` for exact enumeration, the requested
        number when sampling, 0 when no test was run.
    n
        Number of tasks (matrix side).
    method, alternative
        As passed to :func:`mantel`.
    """

    statistic: float
    p_value: float
    permutations: int
    n: int
    method: str
    alternative: str

    @property
    def exact(self) -> bool:
        """True if the p-value comes from enumerating all ``n!`` permutations."""
        return self.permutations > 0 and self.permutations == math.factorial(self.n)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (e.g. one row of ``results/mantel.parquet``)."""
        return asdict(self)


def mantel(
    x: np.ndarray | pd.DataFrame,
    y: np.ndarray | pd.DataFrame,
    *,
    method: str = "pearson",
    permutations: int = 999,
    alternative: str = "two-sided",
    seed: int | None = 0,
) -> MantelResult:
    r"""Mantel permutation test of the correlation between two square task x task matrices.

    The statistic is the correlation over all ordered pairs of distinct tasks,

    .. math::

        r = \frac{\sum_{i \ne j} (x_{ij} - \bar x)(y_{ij} - \bar y)}
                 {\sqrt{\sum_{i \ne j} (x_{ij} - \bar x)^2 \; \sum_{i \ne j} (y_{ij} - \bar y)^2}},
        \qquad \bar x = \frac{1}{n(n-1)} \sum_{i \ne j} x_{ij},

    i.e. Pearson's r of the ``n(n-1)`` off-diagonal entries taken in the same
    order from both matrices (``method="pearson"``), or Pearson's r of their
    ranks, ties given the average rank (``method="spearman"``). The diagonal is
    ignored and may hold anything, NaN included. The matrices need not be
    symmetric: for asymmetric task distances ``x[i, j]`` and ``x[j, i]`` are
    different observations.

    Null distribution: a permutation ``p`` of the task labels is applied to the
    rows and columns of ``x`` together, ``x[p][:, p]``, which keeps each task's
    row and column attached to it and so respects the dependence between
    entries that share a task. If ``n! <= permutations`` all ``n!``
    permutations are enumerated (the identity included) and the p-value is the
    exact fraction of them whose statistic is as or more extreme than the
    observed one; the smallest achievable p-value is then ``1/n!`` (one-sided)
    and ``permutations`` in the result is ``n!``. Otherwise ``permutations``
    permutations are drawn from ``np.random.default_rng(seed)`` and

    .. math::

        p = \frac{k + 1}{m + 1},

    with ``k`` the number of the ``m`` permuted statistics as or more extreme
    than the observed ``r``: ``|r_p| >= |r|`` (two-sided), ``r_p >= r``
    (greater), ``r_p <= r`` (less), with an absolute tolerance of ``1e-12`` so
    that floating-point ties count as ties.

    The permuted statistics are computed in vectorised chunks: the centred and
    scaled entries of ``x`` (or their ranks, which a relabelling only
    reorders) are gathered with an ``(m, n(n-1))`` index array and multiplied
    by those of ``y``.

    Parameters
    ----------
    x, y : (n, n) array_like or pandas.DataFrame
        Square matrices over the same ``n >= 3`` tasks, rows = source, columns
        = target (or any consistent convention). A DataFrame must have the same
        labels (no duplicates) on its index and columns; its columns are put in
        the index order. If both are DataFrames, ``y`` is aligned to ``x``'s
        labels and the label sets must be equal. A plain array is taken to be
        in the same task order as the other argument.
    method : {"pearson", "spearman"}
        Correlation of the values or of their average ranks.
    permutations : int
        Number of permutations (>= 0). 0 computes the statistic only (p-value NaN).
    alternative : {"two-sided", "greater", "less"}
        Alternative hypothesis.
    seed : int or None
        Seed of ``np.random.default_rng`` for sampled permutations; ignored by
        exact enumeration. ``None`` draws fresh entropy (not reproducible).

    Returns
    -------
    MantelResult
        ``statistic, p_value, permutations, n, method, alternative``; ``.to_dict()``.

    Raises
    ------
    TypeError
        Non-numeric matrices, a non-integer ``permutations`` or ``seed``.
    ValueError
        A matrix that is not square, shapes that differ, ``n < 3``, NaN or
        infinite off-diagonal entries, DataFrame labels that differ, an
        unknown ``method`` or ``alternative``, ``permutations < 0``.

    Warns
    -----
    RuntimeWarning
        If the off-diagonal entries of ``x`` or ``y`` are constant: the
        correlation is undefined and ``statistic`` and ``p_value`` are NaN.

    Notes
    -----
    scikit-bio's :func:`skbio.stats.distance.mantel` accepts only symmetric,
    hollow distance matrices and correlates their upper triangles, so it
    cannot test asymmetric task distances; this function exists for that. On
    symmetric input both agree: every off-diagonal value then appears twice,
    which leaves Pearson's r (and, ranks being an affine function of the
    upper-triangle ranks, Spearman's rho) unchanged.

    References
    ----------
    .. [1] Mantel, N. (1967). "The detection of disease clustering and a
       generalized regression approach". Cancer Research 27(2):209-220.
    .. [2] Legendre, P. & Legendre, L. (2012). Numerical Ecology, 3rd English
       ed., Elsevier, section 10.5.1 (Mantel test).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0, 1, 2], [4, 0, 3], [6, 5, 0]])
    >>> res = mantel(x, 2 * x + 1, alternative="greater")
    >>> round(res.statistic, 12), res.p_value, res.permutations  # exact: all 3! = 6 relabellings
    (1.0, 0.16666666666666666, 6)
    """
    check_choice("method", method, CORRELATIONS)
    check_choice("alternative", alternative, ALTERNATIVES)
    check_int("permutations", permutations, minimum=0)
    permutations = int(permutations)
    check_int("seed", seed, minimum=None, allow_none=True)

    xa, ya = _as_matrices(x, y)
    n = xa.shape[0]
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))  # off-diagonal (i, j), i != j, row-major
    unit_x = _unit_entries(xa[rows, cols], method, "x")
    unit_y = _unit_entries(ya[rows, cols], method, "y")

    def result(statistic: float, p_value: float, used: int) -> MantelResult:
        return MantelResult(float(statistic), float(p_value), used, n, method, alternative)

    if unit_x is None or unit_y is None:
        return result(np.nan, np.nan, 0)

    ux = np.zeros((n, n))
    ux[rows, cols] = unit_x  # ux[i, j]: centred, unit-norm entry of x; diagonal unused
    flat = rows * n + cols  # (L,) flat off-diagonal positions, L = n(n-1)
    observed = float(np.clip(ux.ravel()[flat] @ unit_y, -1.0, 1.0))
    if permutations == 0:
        return result(observed, np.nan, 0)

    exact = math.factorial(n) <= permutations
    used = math.factorial(n) if exact else permutations
    chunk = max(1, _CHUNK_ENTRIES // flat.size)
    perms = _all_permutations(n, chunk) if exact else _random_permutations(n, permutations, chunk, seed)
    extreme = 0
    for p in perms:  # p: (m, n), one permutation per row
        gathered = ux.ravel()[p[:, rows] * n + p[:, cols]]  # (m, L) = x[p][:, p] off-diagonal, centred and scaled
        stats = gathered @ unit_y  # (m,)
        extreme += int(np.count_nonzero(_as_extreme(stats, observed, alternative)))
    p_value = extreme / used if exact else (extreme + 1) / (used + 1)
    return result(observed, p_value, used)


def _as_matrices(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` and ``y``; return float64 arrays in a common task order."""
    if isinstance(x, pd.DataFrame):
        x = square_frame(x, "x")
    if isinstance(y, pd.DataFrame):
        y = square_frame(y, "y")
    if isinstance(x, pd.DataFrame) and isinstance(y, pd.DataFrame):
        if set(x.index) != set(y.index):
            only_x = sorted(map(str, set(x.index) - set(y.index)))
            only_y = sorted(map(str, set(y.index) - set(x.index)))
            raise ValueError(f"x and y must be labelled by the same tasks; only in x: {only_x}, only in y: {only_y}")
        y = y.loc[x.index, x.index]
    arrays = []
    for name, m in (("x", x), ("y", y)):
        try:
            a = np.asarray(m.to_numpy() if isinstance(m, pd.DataFrame) else m, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a numeric square matrix, got {type(m).__name__} ({e})") from e
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"{name} must be a square 2-D matrix, got shape {a.shape}")
        arrays.append(a)
    xa, ya = arrays
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}")
    n = xa.shape[0]
    if n < 3:
        raise ValueError(f"the matrices must be at least 3 x 3 (n >= 3 tasks), got n = {n}")
    off = ~np.eye(n, dtype=bool)
    for name, a in (("x", xa), ("y", ya)):
        bad = off & ~np.isfinite(a)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} has {int(bad.sum())} NaN or infinite off-diagonal entries (first at [{i}, {j}] = {a[i, j]}); "
                "expected finite values off the diagonal"
            )
    return xa, ya


def _unit_entries(values: np.ndarray, method: str, name: str) -> np.ndarray | None:
    """Centre ``values`` (or their ranks) and scale to unit norm; None (with a warning) if constant."""
    if np.all(values == values[0]):
        warnings.warn(
            f"the off-diagonal entries of {name} are constant ({values[0]!r}); the correlation is undefined, "
            "statistic and p_value are NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    v = rankdata(values, method="average") if method == "spearman" else values
    v = v - v.mean()
    return v / np.linalg.norm(v)


def _as_extreme(stats: np.ndarray, observed: float, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return np.abs(stats) >= abs(observed) - _TIE_TOL
    if alternative == "greater":
        return stats >= observed - _TIE_TOL
    return stats <= observed + _TIE_TOL


def _all_permutations(n: int, chunk: int) -> Iterator[np.ndarray]:
    """All ``n!`` permutations of ``range(n)`` (identity first), as ``(m, n)`` chunks."""
    it = itertools.chain.from_iterable(itertools.permutations(range(n)))
    while True:
        block = np.fromiter(itertools.islice(it, chunk * n), dtype=np.intp)
        if block.size == 0:
            return
        yield block.reshape(-1, n)


def _random_permutations(n: int, count: int, chunk: int, seed: int | None) -> Iterator[np.ndarray]:
    """``count`` uniformly random permutations of ``range(n)`` from ``default_rng(seed)``, as chunks."""
    rng = np.random.default_rng(seed)
    for start in range(0, count, chunk):
        m = min(chunk, count - start)
        yield rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
