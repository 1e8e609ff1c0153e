"""Materialising a :class:`~taskdist.specs.TaskSpec`: which images, which labels, which split.

A task table has one row per example: ``index`` (row in the dataset's
canonical arrays), ``label`` (the task's label, 0..n_classes-1) and ``split``
(``train``, ``val`` or ``test``). Splits belong to the dataset: a task's
train / val / test examples are drawn from the dataset's train / val / test
pools (:func:`taskdist.data.pools.assign_pools`), so no task is tested on an image
that any task trains or validates on. A table depends only on the task's spec
and the dataset's labels and pools, so it is deterministic. Its file,
``results/tasks/{task}.parquet``, is written and read by :mod:`taskdist.artifacts.task_table`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts.dataset import Dataset
from taskdist.artifacts.task_table import TaskTable
from taskdist.specs import POOLS, TaskSpec

if TYPE_CHECKING:
    import pandas as pd
    import torch

VERSION = 3  # 2: splits drawn from the dataset's pools; 3: the file declares its format and task (task_table)
SPLITS = POOLS


def materialize(spec: TaskSpec, labels: np.ndarray, pools: np.ndarray, ids: np.ndarray | None = None) -> pd.DataFrame:
    """Draw the task's examples, each split from the dataset's matching pool.

    Each new label gets ``spec.samples_per_class`` examples, spread as evenly
    as possible over the original classes it merges
    (:meth:`~taskdist.specs.TaskSpec.draws_per_class`); each original class's
    share is divided over train / val / test in the proportions of the
    dataset's pools (:meth:`~taskdist.specs.TaskSpec.split_counts`), and
    each part is drawn uniformly without replacement from that class's
    images in the matching pool. All randomness comes from ``spec.seed``.

    Parameters
    ----------
    spec
        The task.
    labels
        int, (N,): class of every image of the dataset.
    pools
        uint8, (N,): pool of every image, an index into :data:`taskdist.specs.POOLS`.
    ids
        int64, (N,): the name of every image, written to the table's ``index``
        (:attr:`taskdist.artifacts.dataset.Dataset.ids`); None: its row.
        A class's images are drawn by their order within the class, so the table does not
        depend on which other classes the arrays hold.

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (int64), ``label`` (int64), ``split`` (str), sorted by index.

    Raises
    ------
    ValueError
        If the arrays do not match, or a class's pool holds fewer images than
        the task needs from it (the message names task, class, pool and counts).
    """
    import pandas as pd  # here: a job that only reads tables (every torch job) does not import pandas

    labels, pools = np.asarray(labels), np.asarray(pools)
    if labels.ndim != 1 or pools.shape != labels.shape:
        raise ValueError(f"labels and pools must be 1-d of equal length, got shapes {labels.shape}, {pools.shape}")
    if ids is not None and np.shape(ids) != labels.shape:
        raise ValueError(f"ids must name each of the {len(labels)} images, got shape {np.shape(ids)}")
    if len(pools) and not (0 <= pools.min() and pools.max() < len(POOLS)):
        raise ValueError(f"pools must index {POOLS}, got values {np.unique(pools).tolist()}")
    n_classes = 1 + max(int(labels.max(initial=-1)), *(c for sources in spec.label_map for c in sources))
    sizes = np.zeros((n_classes, len(POOLS)), dtype=np.int64)  # (classes, pools)
    np.add.at(sizes, (labels, pools.astype(np.int64)), 1)
    for c, need in spec.draws_per_class().items():
        if sizes[c].sum() < need:
            raise ValueError(
                f"task {spec.id!r}: class {c} of dataset {spec.dataset!r} has {sizes[c].sum()} images, {need} needed"
            )
    counts = spec.split_counts(sizes)

    rng = np.random.default_rng(spec.seed)
    parts = []
    for new_label, sources in enumerate(spec.label_map):
        for c in sources:
            members = np.flatnonzero(labels == c)
            for p, pool_name in enumerate(POOLS):
                pool = members[pools[members] == p]
                need = counts[c][p]
                if len(pool) < need:
                    raise ValueError(
                        f"task {spec.id!r}: class {c} of dataset {spec.dataset!r} has {len(pool)} images in its "
                        f"{pool_name} pool, {need} needed"
                    )
                picked = rng.choice(pool, size=need, replace=False).astype(np.int64)
                parts.append(pd.DataFrame({"index": picked, "label": new_label, "split": pool_name}))
    table = pd.concat(parts, ignore_index=True)
    if ids is not None:
        table["index"] = np.asarray(ids, dtype=np.int64)[table["index"].to_numpy()]
    table = table.sort_values("index", kind="stable").reset_index(drop=True)
    table["label"] = table["label"].astype(np.int64)
    table["split"] = table["split"].astype(str)
    return table


def arrays(
    dataset: Dataset, table: TaskTable | pd.DataFrame, split: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (float32, scaled to [-1, 1]) and labels of a task table, optionally one split only.

    Rows come in the table's order: sorted by image id (:attr:`Dataset.ids`, an image's place in its source),
    which groups them by label wherever the source stores its images class by class, as the default
    experiment's ``mnist5k`` does (scikit-learn's ``digits`` interleaves its classes; an image folder's ids are
    hashes of the images' names). The order is kept on purpose: every seeded draw over a task's examples indexes
    it (the batch order of training, the labelled budget, the Fisher's and the other methods' subsamples), so a
    change of it would change every result of the workflow. For a slice that mixes the labels, take a seeded
    permutation first::

        x, y = arrays(dataset, table, "train")
        mixed = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:64]
        x, y = x[mixed], y[mixed]  # (64, C, H, W), (64,)
    """
    import torch  # here, so that making a task table does not pay for importing torch
    table = TaskTable.of(table)
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        table = table.take(np.flatnonzero(table.split == split))
    images = torch.from_numpy(dataset.images[rows(dataset, table.index)]).float()  # (N, C, H, W)
    images = images.div_(127.5).sub_(1.0)
    labels = torch.from_numpy(table.label.astype(np.int64))  # (N,)
    return images, labels


def rows(dataset: Dataset, index: np.ndarray) -> np.ndarray:
    """Rows of ``dataset``'s arrays holding the images a table's ``index`` names (:attr:`Dataset.ids`).

    Raises
    ------
    ValueError
        If the dataset file lacks some of them (it was prepared for other classes): the message says how
        to recompute it.
    """
    order = np.argsort(dataset.ids, kind="stable")
    found = np.searchsorted(dataset.ids, index, sorter=order)  # (n,) positions in the sorted ids
    present = found < len(order)
    present[present] = dataset.ids[order[found[present]]] == index[present]
    if not present.all():
        absent = index[~present]
        raise ValueError(
            f"the dataset file lacks {len(absent)} of the task's images (e.g. ids {absent[:3].tolist()}): it was "
            f"prepared for other classes; rerun snakemake (or --forcerun prepare_dataset) to recompute it"
        )
    return order[found]


def subsample(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n, k)`` items out of ``n``, chosen with ``seed``."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))

