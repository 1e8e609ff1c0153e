"""The formulas of the distances that compare two vectors.

Every method turns per-task or per-pair artifacts into a long matrix
``source, target, value``; the workflow picks methods by name from
:data:`taskdist.methods.registry.METHODS`. The formulas here compare vectors: the Fisher Task Distance
of two Fisher diagonals (:func:`fisher_task_distance`) and the Task2Vec
distances of two embeddings (:func:`symmetric_distance`,
:func:`asymmetric_distance`); :mod:`taskdist.aggregates` reads the vectors'
files and builds the matrices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from taskdist.artifacts import vectors as vectors_
from taskdist.checks import check_positive

VERSION = 3
"""Version of the FTD matrix and its floor; raised whenever what they hold changes.

The Task2Vec distances below are versioned with the embeddings, by
:data:`taskdist.methods.task2vec.VERSION` (which the Task2Vec matrix job carries).
3: the matrices carry their format and names (:mod:`taskdist.artifacts.matrices`).
"""


def fisher_task_distance(f_source: np.ndarray, f_target: np.ndarray) -> float:
    r"""Fisher Task Distance between two diagonal Fisher Information vectors.

    .. math::

        d(a \to b) = \frac{1}{\sqrt 2}\,\bigl\lVert \hat F_{a,a}^{1/2} - \hat F_{a,b}^{1/2} \bigr\rVert_2,
        \qquad \hat F = F / \textstyle\sum F,

    the Hellinger distance between the two normalised diagonals, so it lies
    in [0, 1]: 0 when the network's Fisher is the same on both tasks, 1 when
    the two diagonals have disjoint support.

    Parameters
    ----------
    f_source, f_target
        Non-negative diagonals of the *same* network (``N_a``) measured on the
        source task's data (``F_{a,a}``) and on the target's (``F_{a,b}``).

    References
    ----------
    Le, Soltani, Dong, Tarokh. "Fisher Task Distance and Its Application in
    Neural Architecture Search", arXiv:2103.12827.
    """
    f_source = np.asarray(f_source, dtype=np.float64)
    f_target = np.asarray(f_target, dtype=np.float64)
    if f_source.shape != f_target.shape or f_source.ndim != 1:
        raise ValueError(
            f"Fisher diagonals must be 1-D and of equal length, got shapes {f_source.shape} and {f_target.shape}"
        )
    for name, f in (("f_source", f_source), ("f_target", f_target)):
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError(f"{name} must be finite and non-negative")
        if f.sum() <= 0:
            raise ValueError(f"{name} sums to 0: the Fisher diagonal carries no information to normalise")
    diff = np.sqrt(f_source / f_source.sum()) - np.sqrt(f_target / f_target.sum())
    return float(min(1.0, np.linalg.norm(diff) / np.sqrt(2.0)))


def ftd_matrix(fisher: dict[tuple[str, str], np.ndarray], tasks: list[str]) -> pd.DataFrame:
    """FTD over all ordered pairs of ``tasks`` from ``fisher[(net, data)]`` diagonals.

    Returns a long frame ``source, target, value`` with ``value = d(source -> target)``
    computed with the source's network; the diagonal is exactly 0.
    """
    rows = []
    for a in tasks:
        for b in tasks:
            value = 0.0 if a == b else fisher_task_distance(fisher[(a, a)], fisher[(a, b)])
            rows.append({"source": a, "target": b, "value": value})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Task2Vec (Achille et al. 2019, §3.2)


def symmetric_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    r"""Symmetric Task2Vec distance: cosine distance of the embeddings normalised by their sum.

    .. math::

        d_\mathrm{sym}(a, b) = 1 - \frac{u \cdot v}{\lVert u\rVert\,\lVert v\rVert},
        \qquad u = \frac{F_a}{F_a + F_b},\; v = \frac{F_b}{F_a + F_b}\ \text{(elementwise)}.

    The normalisation makes the distance ignore filters whose Fisher is large for every task
    (paper §3.2). It lies in ``[0, 1]`` (``u, v >= 0``), is symmetric, is 0 when ``F_a = F_b``
    and, more generally, when ``F_b = c F_a`` for a constant ``c > 0``.

    0/0 guard: a filter with ``F_a = F_b = 0`` (neither task has information there) gets
    ``u = v = 0``, i.e. it is left out. This is the ``ε -> 0`` limit of the reference code's
    ``F_a / (F_a + F_b + 1e-8)``, without its dependence on the scale of the embeddings
    (Monte-Carlo Fisher values of a small probe can be below ``1e-8``). If ``u`` or ``v`` is then
    all zero (one embedding is zero wherever the other is not), the cosine is undefined; the
    distance is 0 if both embeddings are zero and 1 otherwise.

    Parameters
    ----------
    fa, fb
        Non-negative, finite 1-D embeddings of equal length (see :func:`taskdist.artifacts.vectors.flat`).

    Returns
    -------
    float

    References
    ----------
    A. Achille et al., "Task2Vec: Task embedding for meta-learning", ICCV 2019 (arXiv:1902.03545).
    """
    fa, fb = _pair(fa, fb)
    return _d_sym(fa, fb)


def asymmetric_distance(fa: np.ndarray, fb: np.ndarray, f_trivial: np.ndarray, alpha: float = 0.15) -> float:
    r"""Asymmetric Task2Vec distance from source ``a`` to target ``b`` (paper §3.2).

    .. math::  d_\mathrm{asym}(a \to b) = d_\mathrm{sym}(a, b) - α\, d_\mathrm{sym}(a, t_0),

    with ``t_0`` the trivial embedding (:func:`taskdist.methods.task2vec.trivial_embedding`). The more
    information the source task carries (the farther from ``t_0``), the closer it is to every
    target: complex sources are favoured for transfer. The paper uses ``α = 0.15`` (ResNet-34
    probe). Values lie in ``[-α, 1]``; the reference implementation never finished this distance.

    Parameters
    ----------
    fa, fb
        Embeddings of the source and the target (non-negative 1-D, equal length).
    f_trivial
        Embedding of the trivial task, same length.
    alpha
        ``α >= 0``.
    """
    check_positive("alpha", alpha, allow_zero=True)
    fa, fb = _pair(fa, fb)
    _, f0 = _pair(fa, f_trivial, names=("fa", "f_trivial"))
    return _d_sym(fa, fb) - float(alpha) * _d_sym(fa, f0)


def task2vec_matrices(
    embeddings: Mapping[str, np.ndarray | Mapping[str, np.ndarray]],
    trivial: np.ndarray | Mapping[str, np.ndarray] | None,
    alpha: float = 0.15,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Symmetric and asymmetric Task2Vec distances over all ordered pairs of tasks.

    Parameters
    ----------
    embeddings
        Task id to its embedding: a vector, or a per-layer dict (flattened with
        :func:`taskdist.artifacts.vectors.flat`; all dicts must have the same layers).
    trivial
        The trivial embedding (vector or per-layer dict), or None to skip the asymmetric matrix.
    alpha
        ``α >= 0`` of :func:`asymmetric_distance`.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or None)
        Long frames ``source, target, value`` in the order of ``embeddings`` (source-major):
        ``d_sym(source, target)`` with an exact 0 diagonal, and ``d_asym(source -> target)``,
        whose diagonal is ``-α d_sym(a, t_0)`` as the formula gives (None without ``trivial``).
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ValueError("embeddings must be a non-empty mapping of task id to embedding")
    check_positive("alpha", alpha, allow_zero=True)
    vecs = {task: _as_vector(e, f"embeddings[{task!r}]") for task, e in embeddings.items()}
    items = dict(embeddings)
    if trivial is not None:
        items[None] = trivial
        vecs[None] = _as_vector(trivial, "trivial")
    first = next(iter(embeddings))
    layout = next((lay for lay in map(_layout, items.values()) if lay is not None), None)
    for task, e in items.items():
        what = "the trivial embedding" if task is None else f"the embedding of {task!r}"
        if vecs[task].shape != vecs[first].shape:
            raise ValueError(f"{what} has {vecs[task].size} values, the embedding of {first!r} {vecs[first].size}")
        if _layout(e) not in (None, layout):
            raise ValueError(f"{what} has other layers or filter counts than the others")
    tasks = list(embeddings)
    sym_rows, asym_rows = [], []
    f0 = vecs.get(None)
    d_trivial = {a: _d_sym(vecs[a], f0) for a in tasks} if f0 is not None else {}
    for a in tasks:
        for b in tasks:
            d = 0.0 if a == b else _d_sym(vecs[a], vecs[b])
            sym_rows.append({"source": a, "target": b, "value": d})
            if f0 is not None:
                asym_rows.append({"source": a, "target": b, "value": d - float(alpha) * d_trivial[a]})
    sym = pd.DataFrame(sym_rows, columns=["source", "target", "value"])
    asym = pd.DataFrame(asym_rows, columns=["source", "target", "value"]) if f0 is not None else None
    return sym, asym


def _d_sym(fa: np.ndarray, fb: np.ndarray) -> float:
    total = fa + fb
    nz = total > 0
    u = np.where(nz, fa / np.where(nz, total, 1.0), 0.0)
    v = np.where(nz, fb / np.where(nz, total, 1.0), 0.0)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        return 0.0 if nu == nv else 1.0
    return float(np.clip(1.0 - np.dot(u, v) / (nu * nv), 0.0, 1.0))


def _layout(e: object) -> tuple | None:
    """Layer names and shapes of a per-layer embedding; None for a plain vector."""
    return vectors_.layout(e) if isinstance(e, Mapping) else None


def _as_vector(e: object, what: str) -> np.ndarray:
    if isinstance(e, Mapping):
        vectors_.check(e, what)
        return vectors_.flat(e)
    arr = np.asarray(e, dtype=np.float64)
    _check_vector(arr, what)
    return arr


def _check_vector(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{what} must be finite and non-negative")


def _pair(fa: object, fb: object, names: tuple[str, str] = ("fa", "fb")) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(fa, dtype=np.float64)
    b = np.asarray(fb, dtype=np.float64)
    _check_vector(a, names[0])
    _check_vector(b, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
    return a, b
