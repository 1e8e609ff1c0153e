"""Does a distance predict transfer? Mantel tests and source selection over the workflow's matrices.

Every method is first oriented as a distance (lower = closer; scores are
negated, see :meth:`taskdist.methods.registry.Method.as_distance`). The ground truth
enters, per transfer setting (fine-tuning, linear), as two distances:
``-gain`` (the gain of transferring from the source over training from
scratch, negated) and ``1-accuracy`` (the transferred error), each averaged
over replicates.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from taskdist.artifacts.matrices import to_square
from taskdist.evaluation.mantel import mantel
from taskdist.evaluation.selection import random_baseline, selection_metrics, summarize
from taskdist.evaluation.transfer import SETTINGS
from taskdist.evaluation.transfer import means as transfer_means
from taskdist.methods.registry import METHODS

VERSION = 3
"""Version of the Mantel and selection tables; raised whenever they change.

3: methods in the order of :data:`taskdist.methods.registry.METHODS`, whatever the order of the inputs (the
default config's order: its tables are unchanged)."""


def oriented(name: str, matrix: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Square task x task frame of method ``name`` oriented as a distance (lower = closer)."""
    square = to_square(matrix, order=tasks)
    return pd.DataFrame(METHODS[name].as_distance(square.to_numpy()), index=tasks, columns=tasks)


TRUTHS = ("-gain", "1-accuracy")


def ground_truth(transfer: pd.DataFrame, tasks: list[str], setting: str) -> dict[str, pd.DataFrame]:
    """The transfer table of one setting, averaged over replicates, as the distances ``-gain`` and ``1-accuracy``."""
    means = transfer_means(transfer, setting)
    gain = to_square(means, "gain", order=tasks)
    accuracy = to_square(means, "accuracy", order=tasks)
    return {"-gain": -gain, "1-accuracy": 1.0 - accuracy}


def settings(transfer: pd.DataFrame) -> list[str]:
    """The transfer settings present in ``transfer``, in :data:`taskdist.evaluation.transfer.SETTINGS` order."""
    present = set(transfer["setting"])
    return [s for s in SETTINGS if s in present]


def mantel_table(
    matrices: dict[str, pd.DataFrame],
    transfer: pd.DataFrame,
    tasks: list[str],
    *,
    method: str,
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    """Mantel test of every method against the ground truth of every setting, and of every pair of methods.

    Against the ground truth the test is one-sided (``alternative="greater"``):
    every method is oriented as a distance and the truth as ``-gain`` or
    ``1-accuracy``, so a positive statistic means "predicts transfer" and the
    p-value asks whether it does. Method against method is two-sided.

    Returns one row per comparison: ``x, y, setting, method, statistic,
    p_value, permutations, n, alternative`` (``setting`` is empty for method
    against method; ``method`` is the correlation, pearson or spearman).
    """
    dist = {name: oriented(name, m, tasks) for name, m in matrices.items()}
    rows = []

    def test(x: str, y: str, a: pd.DataFrame, b: pd.DataFrame, setting: str, alternative: str) -> None:
        result = mantel(a.to_numpy(), b.to_numpy(), method=method, permutations=permutations, seed=seed,
                        alternative=alternative)
        rows.append({"x": x, "y": y, "setting": setting, **result.to_dict()})

    for setting in settings(transfer):
        truth = ground_truth(transfer, tasks, setting)
        for name in dist:
            for t in TRUTHS:
                test(name, t, dist[name], truth[t], setting, "greater")
    for x, y in itertools.combinations(dist, 2):
        test(x, y, dist[x], dist[y], "", "two-sided")
    columns = ["x", "y", "setting", "method", "statistic", "p_value", "permutations", "n", "alternative"]
    return pd.DataFrame(rows)[columns]


def agreement_table(matrices: dict[str, pd.DataFrame], *, method: str, permutations: int, seed: int) -> pd.DataFrame:
    """Two-sided Mantel test between every pair of square matrices (e.g. FTD from networks of other seeds).

    Returns one row per pair: ``x, y, statistic, p_value, permutations, n, method, alternative``.
    """
    rows = []
    for x, y in itertools.combinations(matrices, 2):
        result = mantel(matrices[x].to_numpy(), matrices[y].to_numpy(), method=method, permutations=permutations,
                        seed=seed)
        rows.append({"x": x, "y": y, **result.to_dict()})
    return pd.DataFrame(rows)


def selection_table(matrices: dict[str, pd.DataFrame], transfer: pd.DataFrame, tasks: list[str],
                    *, seed: int) -> pd.DataFrame:
    """Source selection per setting, method and target against the transferred accuracy, plus a random baseline.

    Within a target the gain and the accuracy rank sources alike (the
    from-scratch baseline is the same for every source). Columns ``setting,
    method, target, chosen, best, regret, spearman, weighted_tau``; the
    method ``random`` is the expectation of choosing sources at random.
    """
    frames = []
    for setting in settings(transfer):
        accuracy = to_square(transfer_means(transfer, setting), "accuracy", order=tasks)
        for name, matrix in matrices.items():
            per_target = selection_metrics(oriented(name, matrix, tasks), accuracy, predicted_higher_is_better=False)
            frames.append(per_target.assign(method=name, setting=setting))
        frames.append(random_baseline(accuracy, seed=seed).assign(method="random", setting=setting))
    table = pd.concat(frames, ignore_index=True)
    return table[["setting", "method", "target", "chosen", "best", "regret", "spearman", "weighted_tau"]]


def summary(mantel_rows: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """Per setting and method: Mantel statistic and p-value against ``-gain`` and ``1-accuracy``, mean selection."""
    rows = []
    for (setting, name), per_target in selection.groupby(["setting", "method"], sort=False):
        row = {"setting": setting, "method": name}
        for truth, suffix in (("-gain", ""), ("1-accuracy", "_error")):
            hit = mantel_rows[(mantel_rows["x"] == name) & (mantel_rows["y"] == truth)
                              & (mantel_rows["setting"] == setting)]
            row[f"mantel_r{suffix}"] = float(hit["statistic"].iloc[0]) if len(hit) else np.nan
            row[f"mantel_p{suffix}"] = float(hit["p_value"].iloc[0]) if len(hit) else np.nan
        rows.append({**row, **summarize(per_target)})
    return pd.DataFrame(rows)
