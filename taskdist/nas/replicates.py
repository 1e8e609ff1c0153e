"""Which seeds and which bases a target's searches get; no torch, so that the workflow plans with it.

- :func:`replicate_seed`: the seed of replicate ``r`` of a task's searches (``nas.seeds``);
- :func:`farthest_bases`, :func:`random_bases`: the bases of the ablations (``nas.ablations``), beside the
  nearest ones (:func:`taskdist.evaluation.selection.nearest_bases`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskdist.evaluation.selection import nearest_bases
from taskdist.seeds import stable_seed


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed of replicate ``replicate`` (0, 1, ...) of a task's searches: replicate 0 keeps ``seed``, so one
    seed gives the searches it gave before seeds existed; the others are independent draws from it."""
    if not (isinstance(replicate, int | np.integer) and replicate >= 0):
        raise ValueError(f"a replicate is an integer >= 0, got {replicate!r}")
    return int(seed) if replicate == 0 else stable_seed(seed, "replicate", int(replicate))


def farthest_bases(distances: pd.DataFrame, target: str, bases: Sequence[str], k: int) -> list[str]:
    """The ``k`` bases farthest from ``target`` (``d(base -> target)``, largest first): the order of
    :func:`~taskdist.evaluation.selection.nearest_bases` reversed."""
    return list(reversed(nearest_bases(distances, target, list(bases), len(bases))))[:k]


def random_bases(bases: Sequence[str], k: int, seed: int) -> list[str]:
    """``k`` of ``bases`` drawn at random (without the distance) from ``seed``, in draw order."""
    names = sorted(bases)
    if not 1 <= k <= len(names):
        raise ValueError(f"k must be between 1 and the {len(names)} bases, got {k}")
    picks = np.random.default_rng(stable_seed(seed, "random-bases")).choice(len(names), size=k, replace=False)
    return [names[i] for i in picks]
