"""Task-aware NAS: pick the base tasks closest to a target, search the space their cells span.

Per target task:

1. :func:`nearest_bases`: the ``k`` base tasks with the smallest distance
   ``d(base -> target)`` by the configured method;
2. :func:`task_aware_space`: the operations of those bases' best cells,
   weighted by how many edges use them (:meth:`SearchSpace.task_aware`);
3. :func:`run_search` per search of :data:`SEARCHES`: ``task_aware`` (FUSE in
   the task-aware space), ``full`` (FUSE in the full space), ``random``
   (random search in the full space with FUSE's budget of trained
   candidates), and the ablations ``farthest`` (FUSE in the space of the
   ``k`` farthest bases, :func:`farthest_bases`) and ``random_bases`` (of
   ``k`` bases drawn at random, :func:`random_bases`); each winner trained
   from scratch (``final_seeds`` times) and tested at the end.

Every search of a target runs once per seed ``r`` (:func:`replicate_seed`);
:mod:`taskdist.nas.claim` turns the searches' anytime traces into the claim's
tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import torch

from taskdist.evaluation.selection import nearest_bases
from taskdist.nas.fuse import Split, fuse, random_search, train_final
from taskdist.nas.replicates import farthest_bases, random_bases, replicate_seed  # noqa: F401  (re-exported)
from taskdist.nas.space import Genotype, SearchSpace
from taskdist.seeds import stable_seed
from taskdist.specs import SEARCHES, FuseSpec

VERSION = 3
"""Version of the architecture searches; raised whenever their results change.

2: search and bases records carry their format and names, role included (:mod:`taskdist.artifacts.records`).
3: histories carry the anytime trace (cost so far, best validation accuracy so far); every target search has a
seed index and its winner is trained ``final_seeds`` times; bases records name the farthest bases too."""

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
    final_seeds: int = 1,
    n_classes: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict, pd.DataFrame]:
    """One search of :data:`SEARCHES` in ``space``, then its winner trained from scratch and tested.

    The search sees the training and validation splits only;
    :func:`~taskdist.nas.fuse.train_final` (seeded by ``final_seed``, the same
    for every search of a task so that their differences come from the cell)
    is the one reader of ``test_split``. The winner is trained ``final_seeds``
    times (the first with ``final_seed``, the others with seeds drawn from it),
    so that its score is not one initialisation's luck.

    Returns
    -------
    result
        ``search, space, genotype, params``; ``{train,val,test}_{accuracy,loss}``
        (means over the final trainings), ``test_accuracies`` (each training's)
        and ``test_accuracy_sd`` (their standard deviation, 0 for one);
        ``search_val_accuracy`` (the best validation accuracy the search saw),
        ``candidates_trained, search_seconds, search_cpu_s, final_seconds``.
    history
        The search's history with its anytime trace (:class:`~taskdist.nas.fuse.SearchResult`).
    """
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}; known: {', '.join(SEARCHES)}")
    if not (isinstance(final_seeds, int) and final_seeds >= 1):
        raise ValueError(f"final_seeds must be an integer >= 1, got {final_seeds!r}")
    algorithm = fuse if SEARCHES[name] == "fuse" else random_search
    found = algorithm(space, train_split, val_split, spec=spec, seed=seed, n_classes=n_classes, device=device)
    start = time.perf_counter()
    finals = []
    for f in range(final_seeds):
        final = train_final(found.winner, train_split, val_split, test_split, spec=spec,
                            seed=final_seed if f == 0 else stable_seed(final_seed, "retrain", f),
                            n_classes=n_classes, device=device)
        final.pop("history")
        finals.append(final)
    metrics = {f"{split}_{m}": float(np.mean([r[f"{split}_{m}"] for r in finals]))
               for split in ("train", "val", "test") for m in ("accuracy", "loss")}
    tests = [float(r["test_accuracy"]) for r in finals]
    result = {"search": name, "space": space.to_dict(), "genotype": finals[0]["genotype"],
              "params": finals[0]["params"], **metrics, "test_accuracies": tests,
              "test_accuracy_sd": float(np.std(tests, ddof=1)) if len(tests) > 1 else 0.0,
              "search_val_accuracy": float(found.history["best_val_accuracy"].iloc[-1]),
              "candidates_trained": found.candidates_trained, "search_seconds": found.seconds,
              "search_cpu_s": float(found.history["cpu_s"].iloc[-1]), "final_seconds": time.perf_counter() - start}
    return result, found.history
