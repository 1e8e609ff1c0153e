"""How reproducible is the ground truth? Split-half reliability of per-pair values over replicates.

The ground truth of transfer is measured ``R`` times per ordered pair
(replicates: other budget examples, head initialisations and batch orders,
paired across sources). Its reliability says how much of the spread across
pairs is signal rather than replicate noise, and so bounds how well any
distance can correlate with it: a correlation with a ground truth of
reliability ``rho`` cannot exceed ``sqrt(rho)`` in expectation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

VERSION = 2
"""Version of the reliability table; raised whenever it changes.

2: ``seeds`` and ``over_seeds``, the reliability with the source network's seed as the noise
(:func:`reliability_table`)."""

_MAX_SPLITS = 256  # more balanced splits than this are sampled (seeded)


def spearman_brown(r: float, factor: float = 2.0) -> float:
    r"""Reliability of a test ``factor`` times as long as one whose reliability is ``r``.

    .. math:: \rho = \frac{k r}{1 + (k - 1) r}

    With ``factor = 2`` it turns the correlation of two half-sized averages
    into the reliability of the full average. NaN stays NaN.
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    if math.isnan(r):
        return math.nan
    return factor * r / (1.0 + (factor - 1.0) * r)


def half_splits(replicates: int, seed: int = 0) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every split of ``range(replicates)`` into two halves, each split once (sampled above 256).

    For an odd count the first half has ``replicates // 2`` members.
    """
    if replicates < 2:
        raise ValueError(f"a split-half reliability needs at least 2 replicates, got {replicates}")
    half = replicates // 2
    everyone = tuple(range(replicates))
    splits = []
    for first in itertools.combinations(everyone, half):
        if replicates % 2 == 0 and 0 not in first:
            continue  # {A, B} and {B, A} are the same split
        splits.append((first, tuple(r for r in everyone if r not in first)))
    if len(splits) > _MAX_SPLITS:
        picked = np.random.default_rng(seed).choice(len(splits), size=_MAX_SPLITS, replace=False)
        splits = [splits[i] for i in sorted(picked)]
    return splits


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def split_half(values: np.ndarray, seed: int = 0) -> float:
    """Split-half reliability of the row means of ``values`` (items x replicates), Spearman-Brown corrected.

    For each split of the replicates into halves, the Pearson correlation
    across items of the two halves' means is corrected by Spearman-Brown;
    the result is the mean over all splits (sampled, with ``seed``, when
    there are more than 256). NaN with fewer than 2 replicates, fewer than
    3 items, or a constant half.

    Parameters
    ----------
    values
        (items, replicates) array, finite.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be (items, replicates), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    if values.shape[1] < 2:
        return math.nan
    coefficients = [
        spearman_brown(_corr(values[:, list(a)].mean(1), values[:, list(b)].mean(1)))
        for a, b in half_splits(values.shape[1], seed)
    ]
    coefficients = [c for c in coefficients if not math.isnan(c)]
    return float(np.mean(coefficients)) if coefficients else math.nan


def reliability_table(transfer: pd.DataFrame, value: str = "gain", seed: int = 0) -> pd.DataFrame:
    """Split-half reliability of ``value`` per transfer setting, over pairs and within targets.

    ``over_pairs`` is :func:`split_half` over all ordered pairs;
    ``within_targets`` is the mean over targets of :func:`split_half` over
    that target's sources (the ranking that source selection needs; targets
    where it is undefined are left out and counted in ``targets``).

    Replicates that transfer source networks of several seeds (column
    ``source_seed``) are split at random above, so most halves hold both
    seeds; ``over_seeds`` splits by seed instead (the replicates of each seed
    averaged, then :func:`split_half` over the ``seeds``): how far the
    ground truth would be reproduced with source networks trained again.
    With two seeds it is the one split "seed 0 against seed 1"; NaN with one.

    Parameters
    ----------
    transfer
        One row per ``source, target, setting, replicate`` with column ``value``
        (``results/transfer.parquet``).

    Returns
    -------
    pandas.DataFrame
        ``setting, value, replicates, pairs, over_pairs, within_targets, targets, seeds, over_seeds``.
    """
    missing = {"source", "target", "setting", "replicate", value} - set(transfer.columns)
    if missing:
        raise ValueError(f"transfer table lacks columns {sorted(missing)}")
    rows = []
    for setting, frame in transfer.groupby("setting", sort=True):
        wide = frame.pivot_table(index=["target", "source"], columns="replicate", values=value)
        if wide.isna().any().any():
            raise ValueError(f"setting {setting!r}: pairs differ in their replicates")
        within = [split_half(group.to_numpy(), seed) for _, group in wide.groupby(level="target")]
        within = [w for w in within if not math.isnan(w)]
        seeds = frame["source_seed"].dropna() if "source_seed" in frame.columns else pd.Series(dtype=float)
        over_seeds = math.nan
        if seeds.nunique() >= 2:
            per_seed = frame.pivot_table(index=["target", "source"], columns="source_seed", values=value)
            over_seeds = split_half(per_seed.to_numpy(), seed)
        rows.append(
            {
                "setting": setting,
                "value": value,
                "replicates": wide.shape[1],
                "pairs": wide.shape[0],
                "over_pairs": split_half(wide.to_numpy(), seed),
                "within_targets": float(np.mean(within)) if within else math.nan,
                "targets": len(within),
                "seeds": max(int(seeds.nunique()), 1),
                "over_seeds": over_seeds,
            }
        )
    return pd.DataFrame(rows)


LOW = 0.5
"""Below this reliability a correlation with the ground truth is at most ``sqrt(0.5) = 0.71`` in expectation and
its Mantel rows are hard to read."""


def reading(value: float) -> str:
    """What a reliability estimate means for the correlations with the ground truth, in words.

    A split-half estimate is a correlation corrected by Spearman-Brown; with few items or replicates it can be
    negative (the halves disagree more than chance) and the correction then leaves [-1, 1] (``2r / (1 + r)``
    for ``r`` near -1). Any negative value means the same: replicate noise swamps the differences.
    """
    if math.isnan(value):
        return "undefined (fewer than 3 pairs, 2 replicates, or a constant half)"
    if value <= 0:
        return "none: the replicates disagree more than the pairs differ; no correlation with it is meaningful"
    if value < LOW:
        return f"low: a correlation with it can reach only about {math.sqrt(value):.2f}; read its Mantel rows loosely"
    return f"ok: correlations with it can reach about {math.sqrt(value):.2f}"
