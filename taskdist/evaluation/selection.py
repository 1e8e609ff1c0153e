"""Source-selection metrics: how well a task distance (or any score) picks source tasks.

For every target task ``t`` the candidate sources are all other tasks. A score
matrix (a task distance, a transferability score) ranks the candidates; the
ground-truth transfer matrix (fine-tuned accuracy or gain) says how good each
candidate really is. Matrices are square pandas DataFrames with rows = source,
columns = target and the same task labels on both axes; the diagonal is never
used (it may hold NaN).

Why one module of over 500 lines: a method's ranking and the baselines it must beat (random choice, the
rankings that read no target data) are judged by the same candidate handling, tie rules and metrics; split,
the baselines would import this module's private checks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr, weightedtau

from taskdist.checks import check_int, is_int, square_frame
from taskdist.evaluation.intervals import mean_interval

COLUMNS = ("target", "chosen", "best", "regret", "spearman", "weighted_tau")


def rank_sources(score: pd.DataFrame, target: Any, *, higher_is_better: bool) -> list[str]:
    """Rank the candidate sources for ``target``, best first.

    Parameters
    ----------
    score : pandas.DataFrame
        Square matrix, rows = source, columns = target, the same task labels on
        both axes. Column ``target`` holds the score of every source for it.
    target
        Label of the target task.
    higher_is_better : bool
        True for similarities / transferability scores, False for distances.

    Returns
    -------
    list
        All tasks except ``target`` (never the target itself), best first.
        Ties keep the row order of ``score`` (a stable sort), so the first tied
        source in the row order ranks first.

    Raises
    ------
    TypeError
        ``score`` is not a DataFrame, or ``higher_is_better`` is not a bool.
    ValueError
        A malformed matrix (see :func:`selection_metrics`), an unknown
        ``target``, or a NaN score for a candidate source.
    """
    _check_bool(higher_is_better, "higher_is_better")
    score = _square(score, "score")
    if target not in score.columns:
        raise ValueError(f"target {target!r} is not a task of score; expected one of {list(score.columns)}")
    values = _candidate_values(score, target, "score")
    return list(values.index[_order(values.to_numpy(), higher_is_better)])


def nearest_bases(distances: pd.DataFrame, target: str, bases: Sequence[str], k: int) -> list[str]:
    """The ``k`` bases closest to ``target``, closest first.

    Parameters
    ----------
    distances
        Long frame ``source, target, value`` (as ``results/distances/{method}.parquet``).
        The rows used are ``source = base, target = target``: the distance
        *from* a base *to* the target, the direction in which knowledge would
        transfer (the base network meets the target's data).
    target
        The target task; it must not be one of ``bases``.
    bases
        Candidate base tasks; each needs a row.
    k
        How many to return, ``1 <= k <= len(bases)``.

    Ties in ``value`` are broken by base name, so the choice is deterministic.
    """
    missing_cols = {"source", "target", "value"} - set(distances.columns)
    if missing_cols:
        raise ValueError(f"distances needs columns source, target, value; missing {sorted(missing_cols)}")
    bases = list(bases)
    if len(set(bases)) != len(bases):
        raise ValueError(f"bases must be distinct, got {bases}")
    if target in bases:
        raise ValueError(f"target {target!r} is also listed as a base task")
    if not is_int(k) or not 1 <= k <= len(bases):
        raise ValueError(f"k must be an integer in [1, {len(bases)}] (the number of bases), got {k!r}")
    rows = distances[(distances["target"] == target) & distances["source"].isin(bases)]
    if rows["source"].duplicated().any():
        raise ValueError(f"distances has several rows for some (base, {target!r}) pairs")
    missing = sorted(set(bases) - set(rows["source"]))
    if missing:
        raise ValueError(f"distances has no row source={missing[0]!r}, target={target!r} (missing: {missing})")
    if rows["value"].isna().any():
        raise ValueError(f"distances to target {target!r} contain NaN")
    ranked = rows.sort_values(["value", "source"], kind="stable")
    return ranked["source"].head(k).tolist()


def selection_metrics(
    predicted: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    predicted_higher_is_better: bool,
    truth_higher_is_better: bool = True,
) -> pd.DataFrame:
    r"""Per-target quality of choosing and ranking sources by ``predicted``.

    For target ``t`` with candidates ``C_t`` (all tasks but ``t``), write
    ``s(c)`` for the predicted score and ``g(c)`` for the truth, each
    sign-adjusted so that higher means better (negated when lower is better).

    - ``chosen``: the top candidate by ``s`` (:func:`rank_sources`; ties go to
      the first in ``predicted``'s row order).
    - ``best``: the top candidate by ``g`` (ties likewise).
    - ``regret`` (top-1): :math:`g(\mathrm{best}) - g(\mathrm{chosen}) \ge 0`,
      in the units of the truth (e.g. accuracy points lost by the choice).
    - ``spearman``: Spearman's rho between ``s`` and ``g`` over ``C_t``
      (``scipy.stats.spearmanr``); +1 means the predicted ranking is the true one.
    - ``weighted_tau``: Vigna's weighted Kendall tau (``scipy.stats.weightedtau``,
      additive hyperbolic weigher: a pair of candidates at ranks ``r, q`` weighs
      ``1/(r+1) + 1/(q+1)``, rank 0 being the best), so disagreements among the
      top candidates cost most. As in scipy, it is the average of the index
      computed with the ranking by ``s`` and with the ranking by ``g``.

    Both correlations are NaN (no warning) when ``s`` or ``g`` is constant over
    the candidates.

    Parameters
    ----------
    predicted, truth : pandas.DataFrame
        Square matrices, rows = source, columns = target, over the same tasks
        (at least 3, so every target has at least 2 candidates). ``truth`` is
        aligned to ``predicted``'s labels; ``predicted``'s row order breaks
        ties. Candidate entries must not be NaN; the diagonal is ignored.
    predicted_higher_is_better : bool
        False for distances, True for similarities / transferability scores.
    truth_higher_is_better : bool
        True for accuracy or gain, False for e.g. a loss or an error rate.

    Returns
    -------
    pandas.DataFrame
        One row per target, in ``predicted``'s row order, with columns
        ``target, chosen, best, regret, spearman, weighted_tau``.

    Raises
    ------
    TypeError
        A non-DataFrame argument, a non-bool flag.
    ValueError
        Non-square matrices, labels that differ between rows and columns or
        between the two matrices, duplicated labels, fewer than 3 tasks, or a
        NaN candidate entry.

    References
    ----------
    .. [1] Vigna, S. (2015). "A weighted correlation index for rankings with
       ties". Proceedings of the 24th International Conference on World Wide
       Web (WWW '15), 1166-1176.
    .. [2] You, K., Liu, Y., Wang, J., Long, M. (2021). "LogME: Practical
       assessment of pre-trained models for transfer learning". ICML 2021
       (weighted tau as the source/model-selection metric).
    .. [3] Nguyen, C., Hassner, T., Seeger, M., Archambeau, C. (2020). "LEEP: A
       new measure to evaluate transferability of learned representations".
       ICML 2020.
    """
    _check_bool(predicted_higher_is_better, "predicted_higher_is_better")
    _check_bool(truth_higher_is_better, "truth_higher_is_better")
    predicted, truth = _aligned(predicted, truth)
    rows = []
    for target in predicted.columns:
        s = _signed(_candidate_values(predicted, target, "predicted"), predicted_higher_is_better)
        g = _signed(_candidate_values(truth, target, "truth"), truth_higher_is_better)
        chosen = s.index[_order(s.to_numpy(), True)[0]]
        best = g.index[_order(g.to_numpy(), True)[0]]
        rows.append(
            {
                "target": target,
                "chosen": chosen,
                "best": best,
                "regret": float(g[best] - g[chosen]),
                "spearman": _spearman(s.to_numpy(), g.to_numpy()),
                "weighted_tau": _weighted_tau(s.to_numpy(), g.to_numpy()),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def random_baseline(
    truth: pd.DataFrame,
    *,
    truth_higher_is_better: bool = True,
    draws: int = 1000,
    seed: int | None = 0,
) -> pd.DataFrame:
    r"""Expected source-selection metrics of choosing and ranking sources at random.

    Same columns as :func:`selection_metrics`, with ``chosen = "random"``:

    - ``regret``: the expected top-1 regret of a uniformly random candidate,
      :math:`g(\mathrm{best}) - \frac{1}{|C_t|}\sum_{c \in C_t} g(c)` (exact).
    - ``spearman``: 0, the exact expectation of Spearman's rho under a
      uniformly random ranking (NaN if the truth is constant over the candidates).
    - ``weighted_tau``: the expectation of the weighted tau between a uniformly
      random ranking (no ties) and the truth. It is exactly 0 when the truth
      has no ties among the candidates (reversing the random ranking is a
      bijection that negates every term, and the weights of the truth-ranked
      half do not depend on it), and is returned as 0.0 then. With ties in the
      truth it is not 0 in general (ties are broken by the random ranking when
      weighing), so it is computed: exactly, by averaging over all ``k!``
      rankings of the ``k`` candidates, when ``k! <= draws``; otherwise as the
      mean over ``draws`` random rankings from ``np.random.default_rng(seed)``
      (one generator, targets in order), a Monte-Carlo estimate with standard
      error below ``1/sqrt(draws)``.

    Parameters
    ----------
    truth : pandas.DataFrame
        Square ground-truth matrix, rows = source, columns = target (see
        :func:`selection_metrics`).
    truth_higher_is_better : bool
        True for accuracy or gain, False for a loss or an error rate.
    draws : int
        Number of random rankings per target (>= 1), and the threshold for
        exact enumeration.
    seed : int or None
        Seed for the random rankings.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``target, chosen, best, regret, spearman, weighted_tau``.

    Raises
    ------
    TypeError, ValueError
        As :func:`selection_metrics`; also ``draws < 1``.
    """
    _check_bool(truth_higher_is_better, "truth_higher_is_better")
    check_int("draws", draws, minimum=1)
    check_int("seed", seed, minimum=None, allow_none=True)
    truth = _square(truth, "truth")
    rng = np.random.default_rng(seed)
    rows = []
    for target in truth.columns:
        g = _signed(_candidate_values(truth, target, "truth"), truth_higher_is_better)
        gv = g.to_numpy()
        k = gv.size
        best = g.index[_order(gv, True)[0]]
        constant = bool(np.all(gv == gv[0]))
        if constant:
            tau = np.nan
        elif np.unique(gv).size == k:
            tau = 0.0
        else:
            if math.factorial(k) <= draws:
                rankings = np.array(list(itertools.permutations(range(k))), dtype=float)
            else:
                rankings = rng.permuted(np.broadcast_to(np.arange(k, dtype=float), (int(draws), k)), axis=1)
            tau = float(np.mean([weightedtau(r, gv).statistic for r in rankings]))
        rows.append(
            {
                "target": target,
                "chosen": "random",
                "best": best,
                "regret": float(g[best] - gv.mean()),
                "spearman": np.nan if constant else 0.0,
                "weighted_tau": tau,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


BLIND_RULES = ("blind_size", "blind_classes", "blind_accuracy", "blind_transfer")
"""Rankings of sources that read no data of the target: the source task's number of training examples, its
number of classes, its network's own test accuracy, and its mean transfer to the *other* targets."""


def blind_rules(sources: pd.DataFrame, truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The :data:`BLIND_RULES` as square score matrices (higher = chosen first), rows = source, columns = target.

    A method is worth its cost only where it beats a ranking a user could make without the target's data.
    The first three give every target the same ranking: ``sources`` (indexed by task) holds each source task's
    ``train_examples``, ``classes`` and ``test_accuracy``. ``blind_transfer`` ranks a source for target ``t`` by
    its mean ``truth`` over the targets other than ``t`` and itself (leave the target out: it must not read
    how the source transfers to ``t``), which a user has when they have measured transfer to earlier tasks.

    Raises
    ------
    ValueError
        If ``sources`` lacks a column or a task of ``truth``, or ``truth`` has fewer than 3 tasks.
    """
    truth = _square(truth, "truth")
    tasks = list(truth.index)
    missing = {"train_examples", "classes", "test_accuracy"} - set(sources.columns)
    if missing or set(tasks) - set(sources.index):
        raise ValueError(f"sources must hold train_examples, classes and test_accuracy for every task {tasks}; "
                         f"lacks columns {sorted(missing)}, tasks {sorted(map(str, set(tasks) - set(sources.index)))}")
    rules = {}
    for name, column in zip(BLIND_RULES[:3], ("train_examples", "classes", "test_accuracy"), strict=True):
        values = sources.loc[tasks, column].to_numpy(dtype=np.float64)
        rules[name] = pd.DataFrame(np.repeat(values[:, None], len(tasks), axis=1), index=tasks, columns=tasks)
    g = truth.to_numpy()  # (source, target)
    off = ~np.eye(len(tasks), dtype=bool)
    mean_other = np.empty_like(g)
    for j in range(len(tasks)):
        keep = off & (np.arange(len(tasks)) != j)[None, :]  # targets other than j and the source itself
        mean_other[:, j] = np.where(keep, g, 0.0).sum(1) / keep.sum(1)
    rules["blind_transfer"] = pd.DataFrame(mean_other, index=tasks, columns=tasks)
    return rules


def tied_selection(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """:func:`selection_metrics` of a ranking that may tie (higher ``predicted`` first), with a tie at the top
    counted fairly: ``chosen`` names every tied source (joined by ``|``) and ``regret`` is the expected regret of
    choosing among them at random, not the regret of whichever comes first in the row order."""
    per_target = selection_metrics(predicted, truth, predicted_higher_is_better=True)
    predicted, truth = _aligned(predicted, truth)
    for i, target in enumerate(predicted.columns):
        s = _candidate_values(predicted, target, "predicted")
        g = _candidate_values(truth, target, "truth")
        top = s.index[s.to_numpy() == s.max()]
        per_target.loc[i, "chosen"] = "|".join(map(str, top))
        per_target.loc[i, "regret"] = float(g.max() - g[top].mean())
    return per_target


def summarize(per_target: pd.DataFrame) -> dict[str, float | int]:
    """Average the per-target metrics of :func:`selection_metrics` or :func:`random_baseline`.

    Parameters
    ----------
    per_target : pandas.DataFrame
        With columns ``regret, spearman, weighted_tau``, one row per target.

    Returns
    -------
    dict
        ``mean_regret`` (over all targets), ``mean_spearman`` and
        ``mean_weighted_tau`` (over the targets where they are defined; NaN if
        none is), ``n_targets`` (rows), ``n_undefined`` (targets with a NaN
        Spearman or weighted tau, e.g. because the truth is constant over
        their candidates; they are left out of the correlation means).

    Raises
    ------
    TypeError
        ``per_target`` is not a DataFrame.
    ValueError
        A required column is missing, or a regret is NaN.
    """
    if not isinstance(per_target, pd.DataFrame):
        raise TypeError(f"per_target must be a pandas DataFrame, got {type(per_target).__name__}")
    missing = [c for c in ("regret", "spearman", "weighted_tau") if c not in per_target.columns]
    if missing:
        raise ValueError(
            f"per_target lacks columns {missing} (has {list(per_target.columns)}); "
            "expected the output of selection_metrics or random_baseline"
        )
    regret = per_target["regret"].to_numpy(dtype=float)
    if np.isnan(regret).any():
        raise ValueError("per_target has NaN regret; expected the output of selection_metrics or random_baseline")
    rho = per_target["spearman"].to_numpy(dtype=float)
    tau = per_target["weighted_tau"].to_numpy(dtype=float)

    def mean(v: np.ndarray) -> float:
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    return {
        "mean_regret": mean(regret),
        "mean_spearman": mean(rho),
        "mean_weighted_tau": mean(tau),
        "n_targets": len(per_target),
        "n_undefined": int(np.count_nonzero(np.isnan(rho) | np.isnan(tau))),
    }


def summary_intervals(
    per_target: pd.DataFrame,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int | None = 0,
) -> dict[str, float]:
    r"""Bootstrap intervals over targets of the means of :func:`summarize`.

    The targets are resampled with replacement (the same draws for the three
    metrics: ``seed`` fixes them) and each resample's mean is taken as
    :func:`summarize` takes it (a target with an undefined Spearman or
    weighted tau is left out of that mean); the interval is the expanded
    percentile interval of :func:`taskdist.evaluation.intervals.mean_interval`,
    which corrects the plain percentile interval's under-coverage with few
    targets. The per-target metrics share their candidate sources and so are
    not independent; resampling targets treats them as exchangeable, the
    usual approximation (the interval describes the spread over targets, not
    over re-runs of the transfer experiments).

    Parameters
    ----------
    per_target : pandas.DataFrame
        With columns ``regret, spearman, weighted_tau``, one row per target
        (the output of :func:`selection_metrics` or :func:`random_baseline`).
    level : float
        Confidence level, ``0 < level < 1``.
    resamples : int
        Number of resamples of the targets, ``>= 2``.
    seed : int or None
        Seed of the draws.

    Returns
    -------
    dict
        ``mean_regret_low, mean_regret_high, mean_spearman_low,
        mean_spearman_high, mean_weighted_tau_low, mean_weighted_tau_high``
        (NaN where fewer than 2 targets define the metric). The random
        baseline's Spearman is 0 for every target, so its interval is ``(0, 0)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`summarize`, and as :func:`~taskdist.evaluation.intervals.mean_interval`
        for ``level``, ``resamples`` and ``seed``.
    """
    summarize(per_target)  # the same checks
    out: dict[str, float] = {}
    for column in ("regret", "spearman", "weighted_tau"):
        low, high = mean_interval(per_target[column].to_numpy(dtype=float), level=level, resamples=resamples,
                                  seed=seed)
        out[f"mean_{column}_low"], out[f"mean_{column}_high"] = low, high
    return out


# --- helpers --------------------------------------------------------------------------------------


def _check_bool(value: Any, name: str) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _square(df: Any, name: str) -> pd.DataFrame:
    """Validate a square task x task DataFrame (:func:`taskdist.checks.square_frame`) of at least 3 tasks; return
    it with columns in index order, as float."""
    df = square_frame(df, name)
    if len(df) < 3:
        raise ValueError(
            f"{name} has {len(df)} tasks; expected at least 3 (every target needs at least 2 candidate sources)"
        )
    try:
        return df.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must hold numbers ({e})") from e


def _aligned(predicted: Any, truth: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    predicted = _square(predicted, "predicted")
    truth = _square(truth, "truth")
    if set(predicted.index) != set(truth.index):
        only_p = sorted(map(str, set(predicted.index) - set(truth.index)))
        only_t = sorted(map(str, set(truth.index) - set(predicted.index)))
        raise ValueError(
            f"predicted and truth must cover the same tasks; only in predicted: {only_p}, only in truth: {only_t}"
        )
    return predicted, truth.loc[predicted.index, predicted.index]


def _candidate_values(df: pd.DataFrame, target: Any, name: str) -> pd.Series:
    """Column ``target`` without the target itself (rows in ``df``'s order); error on NaN."""
    values = df.loc[df.index != target, target]
    bad = values.index[~np.isfinite(values.to_numpy())]
    if len(bad):
        raise ValueError(
            f"{name} has NaN or infinite values for target {target!r} from candidate sources {list(bad)}; "
            "expected finite values for every source other than the target"
        )
    return values


def _signed(values: pd.Series, higher_is_better: bool) -> pd.Series:
    return values if higher_is_better else -values


def _order(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Indices from best to worst; a stable sort, so ties keep their order."""
    return np.argsort(-values if higher_is_better else values, kind="stable")


def _spearman(s: np.ndarray, g: np.ndarray) -> float:
    if np.all(s == s[0]) or np.all(g == g[0]):
        return float("nan")
    return float(spearmanr(s, g).statistic)


def _weighted_tau(s: np.ndarray, g: np.ndarray) -> float:
    if np.all(s == s[0]) or np.all(g == g[0]):
        return float("nan")
    return float(weightedtau(s, g).statistic)
