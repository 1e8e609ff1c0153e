"""The noise floor of every method: how far a task is from an independent resample of itself.

A distance is informative only where differences between tasks exceed its
own estimation noise. For every task ``a`` the workflow makes a resample
``a'`` (same classes and labels, an independent draw of examples, other
seeds; :func:`taskdist.specs.resample`), an instrument that enters no Mantel
or selection table:

- a *distance* reports its floor ``d(a -> a')`` per task, the median
  between-task distance ``d(a -> b)`` over ordered pairs of distinct tasks,
  and their ratio ``between / median floor`` (≫ 1: the matrix is signal; ≈ 1:
  noise);
- a *score* ``s(source -> target)`` reports, per target, how much it moves
  when the target is replaced by its resample (median over sources of
  ``|s(x -> b') - s(x -> b)|``) against its spread across sources (standard
  deviation of ``s(x -> b)`` over ``x``), and the ratio ``spread / move``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

VERSION = 3
"""Version of the floors table; 3: methods in the order of :data:`taskdist.methods.registry.METHODS`."""

COLUMNS = ("method", "kind", "floor", "between", "ratio", "tasks")


def distance_floor(matrix: pd.DataFrame, floors: dict[str, float]) -> dict:
    """Floor, median between-task distance and their ratio for a distance's long matrix and per-task floors.

    Both are measured from the source's own value ``d(a -> a)`` (0 for every
    distance but the asymmetric Task2Vec, which shifts each source's row by a
    constant): the floor is ``d(a -> a') - d(a -> a)``, the between-task values
    ``d(a -> b) - d(a -> a)``.
    """
    if not floors:
        raise ValueError("no per-task floors given")
    own = matrix[matrix["source"] == matrix["target"]].set_index("source")["value"]
    missing = sorted(set(floors) - set(own.index))
    if missing:
        raise ValueError(f"the matrix has no diagonal entry for {missing}")
    pairs = matrix[matrix["source"] != matrix["target"]]
    off = (pairs["value"] - own.reindex(pairs["source"]).to_numpy()).to_numpy(dtype=np.float64)
    floor = float(np.median([value - own[task] for task, value in floors.items()]))
    between = float(np.median(off)) if len(off) else math.nan
    return {"floor": floor, "between": between, "ratio": _ratio(between, floor), "tasks": len(floors)}


def score_floor(matrix: pd.DataFrame, resampled: pd.DataFrame) -> dict:
    """Median over targets of a score's move under a target resample, its spread over sources, and their ratio.

    ``matrix`` holds ``s(source -> target)``, ``resampled`` the same score with
    each target replaced by its resample (``source, target, value`` with the
    original target's name); off-diagonal pairs only.
    """
    keys = ["source", "target"]
    both = matrix[matrix["source"] != matrix["target"]].merge(resampled, on=keys, suffixes=("", "_resample"))
    if both.empty:
        raise ValueError("no pair has both its score and its resampled score")
    moves, spreads = [], []
    for _, per_target in both.groupby("target", sort=True):
        moves.append(float(np.median(np.abs(per_target["value_resample"] - per_target["value"]))))
        spreads.append(float(per_target["value"].std(ddof=1)) if len(per_target) > 1 else math.nan)
    move, spread = float(np.median(moves)), float(np.nanmedian(spreads))
    return {"floor": move, "between": spread, "ratio": _ratio(spread, move), "tasks": len(moves)}


def _ratio(signal: float, noise: float) -> float:
    if math.isnan(signal) or math.isnan(noise):
        return math.nan
    return math.inf if noise == 0 else signal / noise
