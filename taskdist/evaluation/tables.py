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
from taskdist.evaluation.intervals import holm, mantel_difference, mantel_interval
from taskdist.evaluation.mantel import mantel
from taskdist.evaluation.selection import (
    blind_rules,
    random_baseline,
    selection_metrics,
    summarize,
    summary_intervals,
    tied_selection,
)
from taskdist.evaluation.transfer import SETTINGS
from taskdist.evaluation.transfer import means as transfer_means
from taskdist.methods.registry import METHODS

VERSION = 6
"""Version of the Mantel and selection tables; raised whenever they change.

3: methods in the order of :data:`taskdist.methods.registry.METHODS`, whatever the order of the inputs (the
default config's order: its tables are unchanged).
4: the Mantel table gains ``ci_low, ci_high`` (bootstrap over tasks, every row) and ``p_holm`` (Holm over the
tests against the truth); a comparison table of the two best methods per setting and truth
(:func:`comparison_table`); the summary shows intervals. Existing columns and values are unchanged.
5: the selection table gains the rankings that read no target data (``blind_*`` rows beside ``random``).
6: the FTD consistency table gains the agreement with row and column effects removed and the changes of the nearest
source (:func:`agreement_table`)."""

MANTEL_COLUMNS = ("x", "y", "setting", "method", "statistic", "p_value", "permutations", "n", "alternative",
                  "ci_low", "ci_high", "level", "resamples", "p_holm")
COMPARISON_COLUMNS = ("setting", "truth", "a", "b", "method", "r_a", "r_b", "difference", "ci_low", "ci_high",
                      "p_value", "alternative", "level", "resamples", "defined", "n")


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
    resamples: int = 2000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mantel test of every method against the ground truth of every setting, and of every pair of methods.

    Against the ground truth the test is one-sided (``alternative="greater"``):
    every method is oriented as a distance and the truth as ``-gain`` or
    ``1-accuracy``, so a positive statistic means "predicts transfer" and the
    p-value asks whether it does. Method against method is two-sided.

    Every row gets a ``level`` bootstrap interval over tasks of its statistic
    (:func:`taskdist.evaluation.intervals.mantel_interval`, ``resamples``
    draws of the tasks from ``seed``: the same draws for every row; NaN with
    ``resamples = 0`` or too few tasks). The rows against the truth form one
    family per correlation ``method`` (every method x truth x setting) and get
    Holm-adjusted p-values ``p_holm``
    (:func:`taskdist.evaluation.intervals.holm`); the rows method against
    method are descriptive agreement, not claims about transfer, and keep
    ``p_holm`` NaN.

    Returns one row per comparison: ``x, y, setting, method, statistic,
    p_value, permutations, n, alternative, ci_low, ci_high, level, resamples,
    p_holm`` (``setting`` is empty for method against method; ``method`` is the
    correlation, pearson or spearman).
    """
    dist = {name: oriented(name, m, tasks) for name, m in matrices.items()}
    rows = []

    def test(x: str, y: str, a: pd.DataFrame, b: pd.DataFrame, setting: str, alternative: str) -> None:
        result = mantel(a.to_numpy(), b.to_numpy(), method=method, permutations=permutations, seed=seed,
                        alternative=alternative)
        low = high = np.nan
        if resamples:
            low, high = mantel_interval(a.to_numpy(), b.to_numpy(), method=method, level=level, resamples=resamples,
                                        seed=seed)
        rows.append({"x": x, "y": y, "setting": setting, **result.to_dict(), "ci_low": low, "ci_high": high,
                     "level": float(level), "resamples": int(resamples)})

    for setting in settings(transfer):
        truth = ground_truth(transfer, tasks, setting)
        for name in dist:
            for t in TRUTHS:
                test(name, t, dist[name], truth[t], setting, "greater")
    for x, y in itertools.combinations(dist, 2):
        test(x, y, dist[x], dist[y], "", "two-sided")
    table = pd.DataFrame(rows, columns=list(MANTEL_COLUMNS))
    table["p_holm"] = np.nan
    against_truth = table["setting"] != ""
    for _, family in table[against_truth].groupby("method"):
        table.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy(dtype=float))
    return table


def comparison_table(
    matrices: dict[str, pd.DataFrame],
    transfer: pd.DataFrame,
    tasks: list[str],
    *,
    method: str,
    seed: int,
    resamples: int = 2000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Does the best method predict transfer better than the runner-up? One row per setting and truth.

    The two methods with the highest Mantel correlation (``method``) with the
    truth (ties in the order of the inputs) are compared by the paired
    bootstrap over tasks of :func:`taskdist.evaluation.intervals.mantel_difference`:
    ``difference = r_a - r_b`` (``a`` the best, so ``difference >= 0``), its
    ``level`` interval and a *two-sided* p-value, because the order of ``a``
    and ``b`` was picked from the same data. Methods whose correlation is
    undefined are not ranked. Empty (with the columns) when fewer than two
    methods have a correlation.

    Columns ``setting, truth, a, b, method, r_a, r_b, difference, ci_low,
    ci_high, p_value, alternative, level, resamples, defined, n``.
    """
    dist = {name: oriented(name, m, tasks) for name, m in matrices.items()}
    rows = []
    for setting in settings(transfer):
        truth = ground_truth(transfer, tasks, setting)
        for t in TRUTHS:
            target = truth[t].to_numpy()
            r = {name: mantel(d.to_numpy(), target, method=method, permutations=0).statistic
                 for name, d in dist.items()}
            ranked = sorted((name for name in r if np.isfinite(r[name])), key=lambda name: -r[name])
            if len(ranked) < 2:
                continue
            a, b = ranked[:2]
            result = mantel_difference(dist[a].to_numpy(), dist[b].to_numpy(), target, method=method, level=level,
                                       resamples=resamples, alternative="two-sided", seed=seed)
            fields = result.to_dict()
            rows.append({"setting": setting, "truth": t, "a": a, "b": b, **fields, "n": len(tasks)})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def without_row_and_column_effects(square: np.ndarray) -> np.ndarray:
    """The off-diagonal entries of ``square`` minus their additive fit ``m + a_i + b_j`` (least squares), diagonal NaN.

    A distance matrix's rows and columns carry effects of their own: some
    networks are far from every task, some tasks far from every network
    (FTD's binary targets, read with fewer examples, are one). Two matrices
    can agree at a high Mantel r on these effects alone; the residuals say
    whether they agree on which pairs are near *beyond* them. The diagonal is
    missing, so the two-way fit is found by alternating the row and column
    means (backfitting, converged to 1e-12).
    """
    x = np.array(square, dtype=float)
    n = len(x)
    if x.ndim != 2 or x.shape != (n, n) or n < 3:
        raise ValueError(f"need a square matrix of at least 3 tasks, got shape {x.shape}")
    x[np.eye(n, dtype=bool)] = np.nan
    rows, cols = np.zeros(n), np.zeros(n)
    for _ in range(1000):
        new_rows = np.nanmean(x - cols[None, :], axis=1)
        new_cols = np.nanmean(x - new_rows[:, None], axis=0)
        done = max(np.abs(new_rows - rows).max(), np.abs(new_cols - cols).max()) < 1e-12
        rows, cols = new_rows, new_cols
        if done:
            break
    return x - rows[:, None] - cols[None, :]


def nearest_sources(square: np.ndarray) -> np.ndarray:
    """Per target (column), the row of the nearest other source (ties: the first)."""
    x = np.array(square, dtype=float)
    x[np.eye(len(x), dtype=bool)] = np.inf
    return np.argmin(x, axis=0)


CONSISTENCY_COLUMNS = ("x", "y", "statistic", "p_value", "residual_statistic", "residual_p_value", "nearest_changed",
                       "targets", "permutations", "n", "method", "alternative")


def agreement_table(matrices: dict[str, pd.DataFrame], *, method: str, permutations: int, seed: int) -> pd.DataFrame:
    """How far FTD matrices of other networks of the same tasks agree (the FTD paper's consistency claim).

    One row per pair of matrices: the two-sided Mantel test of their entries
    (``statistic, p_value``), the same of their entries with row and column
    effects removed (:func:`without_row_and_column_effects`:
    ``residual_statistic, residual_p_value``), and for how many of the
    ``targets`` the nearest source differs (:func:`nearest_sources`).
    """
    rows = []
    for x, y in itertools.combinations(matrices, 2):
        a, b = matrices[x].to_numpy(dtype=float), matrices[y].to_numpy(dtype=float)
        raw = mantel(a, b, method=method, permutations=permutations, seed=seed)
        residual = mantel(without_row_and_column_effects(a), without_row_and_column_effects(b), method=method,
                          permutations=permutations, seed=seed)
        changed = int((nearest_sources(a) != nearest_sources(b)).sum())
        rows.append({"x": x, "y": y, "statistic": raw.statistic, "p_value": raw.p_value,
                     "residual_statistic": residual.statistic, "residual_p_value": residual.p_value,
                     "nearest_changed": changed, "targets": len(a), "permutations": raw.permutations, "n": raw.n,
                     "method": raw.method, "alternative": raw.alternative})
    return pd.DataFrame(rows, columns=list(CONSISTENCY_COLUMNS))


def selection_table(matrices: dict[str, pd.DataFrame], transfer: pd.DataFrame, tasks: list[str],
                    *, seed: int, sources: pd.DataFrame | None = None) -> pd.DataFrame:
    """Source selection per setting, method and target against the transferred accuracy, plus the baselines.

    Within a target the gain and the accuracy rank sources alike (the
    from-scratch baseline is the same for every source). Columns ``setting,
    method, target, chosen, best, regret, spearman, weighted_tau``; the
    method ``random`` is the expectation of choosing sources at random, and
    with ``sources`` (per task: ``train_examples, classes, test_accuracy``)
    the rankings that read no target data (:func:`taskdist.evaluation.selection.blind_rules`,
    ties at the top counted by their expected regret).
    """
    frames = []
    for setting in settings(transfer):
        accuracy = to_square(transfer_means(transfer, setting), "accuracy", order=tasks)
        for name, matrix in matrices.items():
            per_target = selection_metrics(oriented(name, matrix, tasks), accuracy, predicted_higher_is_better=False)
            frames.append(per_target.assign(method=name, setting=setting))
        frames.append(random_baseline(accuracy, seed=seed).assign(method="random", setting=setting))
        if sources is not None:
            for name, rule in blind_rules(sources, accuracy).items():
                frames.append(tied_selection(rule, accuracy).assign(method=name, setting=setting))
    table = pd.concat(frames, ignore_index=True)
    return table[["setting", "method", "target", "chosen", "best", "regret", "spearman", "weighted_tau"]]


SELECTION_INTERVALS = tuple(f"mean_{m}_{end}" for m in ("regret", "spearman", "weighted_tau")
                            for end in ("low", "high"))


def summary(
    mantel_rows: pd.DataFrame,
    selection: pd.DataFrame,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per setting and method: the Mantel tests against ``-gain`` and ``1-accuracy``, and mean source selection.

    Columns (the first ones as before intervals existed) ``setting, method``,
    per truth (suffix ``""`` for ``-gain``, ``"_error"`` for ``1-accuracy``)
    ``mantel_r, mantel_p`` (raw permutation p), then
    :func:`taskdist.evaluation.selection.summarize`'s means and counts; then
    the new columns: per truth ``mantel_low, mantel_high`` (the table's
    bootstrap interval over tasks) and ``mantel_p_holm``, and the selection
    means' intervals over targets
    (:func:`taskdist.evaluation.selection.summary_intervals`, ``level``,
    ``resamples``, ``seed``: :data:`SELECTION_INTERVALS`; ``resamples = 0``
    leaves them NaN). A Mantel
    table written before intervals existed lacks ``ci_low, ci_high,
    p_holm``: those columns are then NaN.
    """
    rows = []
    for (setting, name), per_target in selection.groupby(["setting", "method"], sort=False):
        row = {"setting": setting, "method": name}
        extra = {}
        for truth, suffix in (("-gain", ""), ("1-accuracy", "_error")):
            hit = mantel_rows[(mantel_rows["x"] == name) & (mantel_rows["y"] == truth)
                              & (mantel_rows["setting"] == setting)]

            def value(column: str, hit: pd.DataFrame = hit) -> float:
                return float(hit[column].iloc[0]) if len(hit) and column in hit.columns else np.nan

            row[f"mantel_r{suffix}"] = value("statistic")
            row[f"mantel_p{suffix}"] = value("p_value")
            extra[f"mantel_low{suffix}"] = value("ci_low")
            extra[f"mantel_high{suffix}"] = value("ci_high")
            extra[f"mantel_p_holm{suffix}"] = value("p_holm")
        spread = (summary_intervals(per_target, level=level, resamples=resamples, seed=seed) if resamples
                  else dict.fromkeys(SELECTION_INTERVALS, np.nan))
        rows.append({**row, **summarize(per_target), **extra, **spread})
    return pd.DataFrame(rows)

