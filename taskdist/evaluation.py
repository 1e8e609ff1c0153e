"""Does a distance predict transfer? Mantel tests and source selection over the workflow's matrices.

Every method is first oriented as a distance (lower = closer; scores are
negated, see :meth:`taskdist.distances.Method.as_distance`). The ground truth
enters as two distances: ``-gain`` (the gain of fine-tuning from the source
over training from scratch, negated) and ``1-accuracy`` (the fine-tuned
error).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from taskdist import io
from taskdist.distances import METHODS
from taskdist.mantel import mantel
from taskdist.selection import random_baseline, selection_metrics, summarize


def oriented(name: str, matrix: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Square task x task frame of method ``name`` oriented as a distance (lower = closer)."""
    square = io.to_square(matrix, order=tasks)
    return pd.DataFrame(METHODS[name].as_distance(square.to_numpy()), index=tasks, columns=tasks)


def ground_truth(transfer: pd.DataFrame, tasks: list[str]) -> dict[str, pd.DataFrame]:
    """The transfer table as the two ground-truth distances ``-gain`` and ``1-accuracy``."""
    gain = io.to_square(transfer, "gain", order=tasks)
    accuracy = io.to_square(transfer, "accuracy", order=tasks)
    return {"-gain": -gain, "1-accuracy": 1.0 - accuracy}


def mantel_table(
    matrices: dict[str, pd.DataFrame],
    transfer: pd.DataFrame,
    tasks: list[str],
    *,
    method: str,
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    """Mantel test of every method against the ground truth, and of every pair of methods.

    Returns one row per comparison: ``x, y, method, statistic, p_value,
    permutations, n`` (``method`` is the correlation, pearson or spearman).
    """
    dist = {name: oriented(name, m, tasks) for name, m in matrices.items()}
    truth = ground_truth(transfer, tasks)
    comparisons = [(name, t) for name in dist for t in truth] + list(itertools.combinations(dist, 2))
    both = {**dist, **truth}
    rows = []
    for x, y in comparisons:
        result = mantel(both[x].to_numpy(), both[y].to_numpy(), method=method, permutations=permutations, seed=seed)
        rows.append({"x": x, "y": y, **result.to_dict()})
    return pd.DataFrame(rows)[["x", "y", "method", "statistic", "p_value", "permutations", "n", "alternative"]]


def selection_table(matrices: dict[str, pd.DataFrame], transfer: pd.DataFrame, tasks: list[str],
                    *, seed: int) -> pd.DataFrame:
    """Source selection per method and target against the fine-tuned accuracy, plus a random baseline.

    Columns ``method, target, chosen, best, regret, spearman, weighted_tau``;
    the method ``random`` is the expectation of choosing sources at random.
    """
    accuracy = io.to_square(transfer, "accuracy", order=tasks)
    frames = []
    for name, matrix in matrices.items():
        per_target = selection_metrics(oriented(name, matrix, tasks), accuracy, predicted_higher_is_better=False)
        frames.append(per_target.assign(method=name))
    frames.append(random_baseline(accuracy, seed=seed).assign(method="random"))
    table = pd.concat(frames, ignore_index=True)
    return table[["method", "target", "chosen", "best", "regret", "spearman", "weighted_tau"]]


def summary(mantel_rows: pd.DataFrame, selection: pd.DataFrame, truth: str = "-gain") -> pd.DataFrame:
    """Per method: Mantel statistic and p-value against ``truth``, and the mean selection metrics."""
    rows = []
    for name, per_target in selection.groupby("method", sort=False):
        row = {"method": name, **summarize(per_target)}
        hit = mantel_rows[(mantel_rows["x"] == name) & (mantel_rows["y"] == truth)]
        row["mantel_r"] = float(hit["statistic"].iloc[0]) if len(hit) else np.nan
        row["mantel_p"] = float(hit["p_value"].iloc[0]) if len(hit) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
