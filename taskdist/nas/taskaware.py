"""Task-aware NAS: pick the base tasks closest to a target, search the space their cells span.

Per target task:

1. :func:`nearest_bases`: the ``k`` base tasks with the smallest distance
   ``d(base -> target)`` by the configured method;
2. :func:`task_aware_space`: the operations of those bases' best cells,
   weighted by how many edges use them (:meth:`SearchSpace.task_aware`);
3. :func:`compare_searches`: FUSE in the task-aware space, FUSE in the full
   space, random search in the full space with FUSE's budget of trained
   candidates; each winner trained from scratch and tested once at the end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence

import pandas as pd
import torch

from taskdist.config import stable_seed
from taskdist.nas.fuse import FuseSpec, SearchResult, Split, fuse, random_search, train_final
from taskdist.nas.space import Genotype, SearchSpace

log = logging.getLogger(__name__)

SEARCHES = ("fuse_task_aware", "fuse_full", "random_full")


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
    if not isinstance(k, int) or not 1 <= k <= len(bases):
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
             dict(zip(space.ops, space.weights)))
    return space, chosen


def compare_searches(
    train_split: Split,
    val_split: Split,
    test_split: Split,
    *,
    base_cells: Mapping[str, Genotype],
    distances: pd.DataFrame,
    target: str,
    k: int,
    spec: FuseSpec,
    seed: int,
    n_classes: int | None = None,
    exclude: Collection[str] = (),
    device: torch.device | str = "cpu",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the three searches of :data:`SEARCHES` for ``target``, then train and test their winners.

    All three searches finish before any winner is trained, and only
    :func:`~taskdist.nas.fuse.train_final` receives ``test_split``. Each winner
    is trained with the same seed, so their differences come from the cell.

    Returns
    -------
    summary
        One row per search: ``search, bases, space, genotype, params,
        candidates_trained, search_seconds, {train,val,test}_{accuracy,loss}``.
    history
        The searches' histories (:class:`~taskdist.nas.fuse.SearchResult`)
        stacked, with a ``search`` column.
    """
    space, chosen = task_aware_space(base_cells, distances, target, k, exclude=exclude)
    full = SearchSpace.full()
    results: dict[str, tuple[SearchSpace, SearchResult]] = {
        "fuse_task_aware": (space, fuse(space, train_split, val_split, spec=spec, n_classes=n_classes,
                                        seed=stable_seed(seed, "fuse_task_aware"), device=device)),
        "fuse_full": (full, fuse(full, train_split, val_split, spec=spec, n_classes=n_classes,
                                 seed=stable_seed(seed, "fuse_full"), device=device)),
        "random_full": (full, random_search(full, train_split, val_split, spec=spec, n_classes=n_classes,
                                            seed=stable_seed(seed, "random_full"), device=device)),
    }
    rows, histories = [], []
    for search, (sp, result) in results.items():
        final = train_final(result.winner, train_split, val_split, test_split, spec=spec, n_classes=n_classes,
                            seed=stable_seed(seed, "final"), device=device)
        final.pop("history")
        rows.append({"search": search, "bases": ",".join(chosen), "space": json.dumps(sp.to_dict()), **final,
                     "candidates_trained": result.candidates_trained, "search_seconds": result.seconds})
        histories.append(result.history.assign(search=search))
    return pd.DataFrame(rows), pd.concat(histories, ignore_index=True)
