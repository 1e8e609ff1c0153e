"""Task distances and the registry of methods the workflow can compute.

Every method turns per-task or per-pair artifacts into a long matrix
``source, target, value``; the workflow picks methods by name from
:data:`METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskdist import io

VERSION = 2
"""Version of the FTD matrix and its floor; raised whenever what they hold changes."""


@dataclass(frozen=True)
class Method:
    """A task-distance method the workflow can compute.

    ``kind`` is ``"distance"`` (lower = closer, better transfer expected) or
    ``"score"`` (a transferability score: higher = better transfer expected).
    """

    name: str
    description: str
    symmetric: bool
    kind: str = "distance"

    def as_distance(self, values: np.ndarray) -> np.ndarray:
        """Values oriented as a distance (lower = closer): scores are negated."""
        return -np.asarray(values, dtype=float) if self.kind == "score" else np.asarray(values, dtype=float)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("ftd", "Fisher Task Distance (Le et al. 2021): Hellinger distance of normalised FIM diagonals", False),
        Method("task2vec", "Task2Vec (Achille et al. 2019): cosine distance of normalised probe embeddings", True),
        Method("task2vec_asym", "Task2Vec asymmetric: d_sym(a, b) - alpha * d_sym(a, trivial)", False),
        Method("tanas", "TA-NAS complexity (Le et al. 2021): share of a feature map's weights that must remain",
               False),
        Method("leep", "LEEP (Nguyen et al. 2020): log expected empirical prediction", False, "score"),
        Method("logme", "LogME (You et al. 2021): log marginal evidence of a linear model on features", False, "score"),
        Method("nce", "NCE (Tran et al. 2019): negative conditional entropy of target given source labels", False,
               "score"),
        Method("h_score", "H-score (Bao et al. 2019): tr(cov(f)^-1 cov(E[f|y]))", False, "score"),
    ]
}
SCORE_METHODS = tuple(name for name, m in METHODS.items() if m.kind == "score")


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


def read_fisher_vector(path: str) -> np.ndarray:
    """A ``results/fisher/{net}/{data}.parquet`` table as one vector, in its sorted row order."""
    return io.read_parquet(path, ("layer", "filter", "value"))["value"].to_numpy(dtype=np.float64)


def ftd_from_files(fisher_paths: dict[tuple[str, str], str], tasks: list[str]) -> pd.DataFrame:
    """:func:`ftd_matrix` over the Fisher tables at ``fisher_paths[(net, data)]``."""
    return ftd_matrix({pair: read_fisher_vector(path) for pair, path in fisher_paths.items()}, tasks)
