"""Task-aware NAS: pick the base tasks closest to a target, search the space their cells span.

Per target task:

1. :func:`nearest_bases`: the ``k`` base tasks with the smallest distance
   ``d(base -> target)`` by the configured method;
2. :func:`task_aware_space`: the operations of those bases' best cells,
   weighted by how many edges use them (:meth:`SearchSpace.task_aware`);
3. :func:`run_search` per search of :data:`SEARCHES`: ``task_aware`` (FUSE in
   the task-aware space), ``full`` (FUSE in the full space), ``random``
   (random search in the full space with FUSE's budget of trained
   candidates); each winner trained from scratch and tested once at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping

import pandas as pd
import torch

from taskdist.evaluation.selection import nearest_bases
from taskdist.nas.fuse import Split, fuse, random_search, train_final
from taskdist.nas.space import Genotype, SearchSpace
from taskdist.specs import SEARCHES, FuseSpec

VERSION = 2
"""Version of the architecture searches; raised whenever their results change.

2: search and bases records carry their format and names, role included (:mod:`taskdist.artifacts.records`)."""

log = logging.getLogger(__name__)


def task_aware_space(
    base_cells: Mapping[str, Genotype],
    distances: pd.DataFrame,
    target: str,
    k: int,
    *,
    exclude: Collection[str] = (),
) -> tuple[SearchSpace, list[str]]:
    """The task-aware space of ``target`` and the bases it was built from.

    ``base_cells`` maps every base task to its best cell (e.g. FUSE's winner on
    that task); the ``k`` nearest (:func:`nearest_bases`) span the space
    (:meth:`SearchSpace.task_aware`, with ``exclude``).
    """
    chosen = nearest_bases(distances, target, sorted(base_cells), k)
    space = SearchSpace.task_aware([base_cells[b] for b in chosen], exclude=exclude)
    log.info("task-aware space of %s from %s: %s", target, chosen,
             dict(zip(space.ops, space.weights, strict=True)))
    return space, chosen


def run_search(
    name: str,
    space: SearchSpace,
    train_split: Split,
    val_split: Split,
    test_split: Split,
    *,
    spec: FuseSpec,
    seed: int,
    final_seed: int,
    n_classes: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict, pd.DataFrame]:
    """One search of :data:`SEARCHES` in ``space``, then its winner trained from scratch and tested once.

    The search sees the training and validation splits only;
    :func:`~taskdist.nas.fuse.train_final` (seeded by ``final_seed``, the same
    for every search of a task so that their differences come from the cell)
    is the one reader of ``test_split``.

    Returns
    -------
    result
        ``search, space, genotype, params, {train,val,test}_{accuracy,loss},
        candidates_trained, search_seconds, final_seconds``.
    history
        The search's history (:class:`~taskdist.nas.fuse.SearchResult`).
    """
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}; known: {', '.join(SEARCHES)}")
    algorithm = fuse if SEARCHES[name] == "fuse" else random_search
    found = algorithm(space, train_split, val_split, spec=spec, seed=seed, n_classes=n_classes, device=device)
    start = time.perf_counter()
    final = train_final(found.winner, train_split, val_split, test_split, spec=spec, seed=final_seed,
                        n_classes=n_classes, device=device)
    final.pop("history")
    result = {"search": name, "space": space.to_dict(), **final, "candidates_trained": found.candidates_trained,
              "search_seconds": found.seconds, "final_seconds": time.perf_counter() - start}
    return result, found.history
