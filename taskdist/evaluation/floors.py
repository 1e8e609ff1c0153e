"""The noise floor of every method: how far a task is from an independent resample of itself.

A distance is informative only where differences between tasks exceed its
own estimation noise. For every task ``a`` the workflow makes a resample
``a'`` (same classes and labels, an independent draw of examples, other
seeds; :func:`taskdist.specs.resample`), an instrument that enters no Mantel
or selection table.

Every method, distance or score, gets the **within-target ratio**, the one
that matters for source selection (which ranks the sources of one target):
for each target ``b``,

- the *spread*: the standard deviation (``ddof=1``) over the sources
  ``x != b`` of the method's value ``v(x -> b)`` (the sign a method is
  oriented with, :func:`taskdist.evaluation.tables.oriented`, leaves it
  unchanged);
- the *floor* on ``b``: for a *score*, how much it moves when the target is
  replaced by its resample, the median over sources ``x`` of
  ``|s(x -> b') - s(x -> b)|``; for a *distance*, the workflow computes only
  each task's own network against its resample, so the floor on ``b`` is
  ``d(b -> b') - d(b -> b)``;
- the per-target ratio ``spread / floor`` (``inf`` for a floor of 0 under a
  positive spread; NaN for a target with fewer than two sources, or with
  spread and floor both 0).

``within_ratio`` is the **median over targets of the per-target ratios**
(targets with a NaN ratio left out), not the ratio of the medians;
``within_spread`` and ``within_floor`` are the medians over targets of the
per-target spreads and floors, shown beside it (so ``within_ratio`` is in
general not ``within_spread / within_floor``). The per-target values are
:func:`distance_targets` and :func:`score_targets`. ≫ 1: the method ranks a
target's sources by more than its noise; ≈ 1: by noise.

A distance also keeps its **between-task ratio** (columns ``floor``,
``between``, ``ratio``): its floor ``d(a -> a') - d(a -> a)`` (median over
tasks), the median between-task distance ``d(a -> b) - d(a -> a)`` over
ordered pairs of distinct tasks, and ``between / floor``. A score has none
(NaN).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

VERSION = 4
"""Version of the floors tables.

3: methods in the order of :data:`taskdist.methods.registry.METHODS`.
4: every method gets the within-target ratio (``within_spread, within_floor, within_ratio``: the median over targets
of the per-target ratios of the spread over sources to the floor on the target, see the module docstring), distances
beside their between-task ratio. A score's ratio, before the ratio of the medians in ``floor, between, ratio``, is
now the median of the per-target ratios in the ``within_*`` columns (``floor, between, ratio`` are NaN for a score).
The per-target values are a second table, ``results/floors_targets.parquet``.
"""

COLUMNS = ("method", "kind", "floor", "between", "ratio", "within_spread", "within_floor", "within_ratio", "tasks")
"""One row per method: the between-task ratio (distances only), the within-target ratio, and the number of tasks."""

TARGET_COLUMNS = ("method", "kind", "target", "sources", "spread", "floor", "ratio")
"""One row per method and target: the sources of the target, their spread, the floor on the target, the ratio."""


def distance_targets(matrix: pd.DataFrame, floors: dict[str, float]) -> pd.DataFrame:
    """Per target ``b`` of ``floors`` (sorted): ``target, sources, spread, floor, ratio`` of a distance.

    ``matrix`` is the long matrix ``source, target, value`` with its diagonal,
    ``floors`` each task's ``d(b -> b')``. The spread is the standard deviation
    of ``d(x -> b)`` over the sources ``x != b``, the floor
    ``d(b -> b') - d(b -> b)``, the ratio ``spread / floor``.
    """
    own = _own(matrix, floors)
    pairs = matrix[matrix["source"] != matrix["target"]]
    rows = []
    for target in sorted(floors):
        values = pairs.loc[pairs["target"] == target, "value"].to_numpy(dtype=np.float64)
        rows.append(_target(target, values, floors[target] - own[target]))
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS[2:]))


def score_targets(matrix: pd.DataFrame, resampled: pd.DataFrame) -> pd.DataFrame:
    """Per target ``b`` (sorted): ``target, sources, spread, floor, ratio`` of a score.

    ``matrix`` holds ``s(source -> target)``, ``resampled`` the same score with
    each target replaced by its resample (``source, target, value`` with the
    original target's name); off-diagonal pairs with both values only. The
    spread is the standard deviation of ``s(x -> b)`` over the sources, the
    floor the median over sources of ``|s(x -> b') - s(x -> b)|``, the ratio
    ``spread / floor``.
    """
    keys = ["source", "target"]
    both = matrix[matrix["source"] != matrix["target"]].merge(resampled, on=keys, suffixes=("", "_resample"))
    if both.empty:
        raise ValueError("no pair has both its score and its resampled score")
    rows = []
    for target, per_target in both.groupby("target", sort=True):
        move = float(np.median(np.abs(per_target["value_resample"] - per_target["value"])))
        rows.append(_target(target, per_target["value"].to_numpy(dtype=np.float64), move))
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS[2:]))


def within(per_target: pd.DataFrame) -> dict:
    """``within_spread``, ``within_floor`` (medians over targets) and ``within_ratio`` (median over targets of
    the per-target ratios, NaN ones left out; NaN if all are) of :func:`distance_targets` or
    :func:`score_targets`."""
    return {"within_spread": _median(per_target["spread"]), "within_floor": _median(per_target["floor"]),
            "within_ratio": _median(per_target["ratio"])}


def distance_floor(matrix: pd.DataFrame, floors: dict[str, float]) -> dict:
    """A distance's between-task floor, median between-task distance and their ratio, and its within-target ratio
    (:func:`within` of :func:`distance_targets`), for its long matrix and per-task floors ``d(a -> a')``.

    The between-task values are measured from the source's own value
    ``d(a -> a)`` (0 for every distance but the asymmetric Task2Vec, which
    shifts each source's row by a constant): the floor is the median over
    tasks of ``d(a -> a') - d(a -> a)``, the between-task value the median over
    ordered pairs of distinct tasks of ``d(a -> b) - d(a -> a)``.
    """
    own = _own(matrix, floors)
    pairs = matrix[matrix["source"] != matrix["target"]]
    off = (pairs["value"] - own.reindex(pairs["source"]).to_numpy()).to_numpy(dtype=np.float64)
    floor = float(np.median([value - own[task] for task, value in floors.items()]))
    between = float(np.median(off)) if len(off) else math.nan
    return {"floor": floor, "between": between, "ratio": _ratio(between, floor),
            **within(distance_targets(matrix, floors)), "tasks": len(floors)}


def score_floor(matrix: pd.DataFrame, resampled: pd.DataFrame) -> dict:
    """A score's within-target ratio (:func:`within` of :func:`score_targets`); no between-task ratio (NaN)."""
    per_target = score_targets(matrix, resampled)
    return {"floor": math.nan, "between": math.nan, "ratio": math.nan, **within(per_target),
            "tasks": len(per_target)}


def _own(matrix: pd.DataFrame, floors: dict[str, float]) -> pd.Series:
    """The diagonal ``d(a -> a)`` of ``matrix`` by task; every task of ``floors`` must have one."""
    if not floors:
        raise ValueError("no per-task floors given")
    own = matrix[matrix["source"] == matrix["target"]].set_index("source")["value"]
    missing = sorted(set(floors) - set(own.index))
    if missing:
        raise ValueError(f"the matrix has no diagonal entry for {missing}")
    return own


def _target(target: str, values: np.ndarray, floor: float) -> dict:
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return {"target": target, "sources": len(values), "spread": spread, "floor": float(floor),
            "ratio": _ratio(spread, float(floor))}


def _median(values: pd.Series) -> float:
    values = values.to_numpy(dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else math.nan


def _ratio(signal: float, noise: float) -> float:
    if math.isnan(signal) or math.isnan(noise) or signal == noise == 0:
        return math.nan
    return math.inf if noise == 0 else signal / noise
