"""Materialising a :class:`~taskdist.config.TaskSpec`: which images, which labels, which split.

A task table has one row per example: ``index`` (row in the dataset's
canonical arrays), ``label`` (the task's label, 0..n_classes-1) and ``split``
(``train``, ``val`` or ``test``). It depends only on the task's spec and the
dataset's labels, so it is deterministic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from taskdist.config import TaskSpec
from taskdist.data import Dataset

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "val", "test")


def materialize(spec: TaskSpec, dataset_labels: np.ndarray) -> pd.DataFrame:
    """Draw the task's examples and assign them to splits.

    Each new label gets ``spec.samples_per_class`` examples, spread as evenly
    as possible over the original classes it merges and drawn uniformly
    without replacement; each label's examples are then split into train /
    validation / test by ``spec.split`` (stratified). All randomness comes
    from ``spec.seed``.

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (int64), ``label`` (int64), ``split`` (str), sorted by index.
    """
    rng = np.random.default_rng(spec.seed)
    draws = spec.draws_per_class()
    rows = []
    for label, sources in enumerate(spec.label_map):
        picked = []
        for c in sources:
            pool = np.flatnonzero(dataset_labels == c)
            if len(pool) < draws[c]:
                raise ValueError(
                    f"task {spec.id!r}: class {c} of dataset {spec.dataset!r} has {len(pool)} images, "
                    f"{draws[c]} needed"
                )
            picked.append(rng.choice(pool, size=draws[c], replace=False))
        members = rng.permutation(np.concatenate(picked))
        n_train = round(spec.split.train * len(members))
        n_val = round(spec.split.val * len(members))
        split = np.array(["test"] * len(members), dtype=object)
        split[:n_train] = "train"
        split[n_train : n_train + n_val] = "val"
        rows.append(pd.DataFrame({"index": members.astype(np.int64), "label": label, "split": split}))
    table = pd.concat(rows, ignore_index=True).sort_values("index", kind="stable").reset_index(drop=True)
    table["label"] = table["label"].astype(np.int64)
    table["split"] = table["split"].astype(str)
    return table


def arrays(dataset: Dataset, table: pd.DataFrame, split: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (float32, scaled to [-1, 1]) and labels of a task table, optionally one split only."""
    import torch  # here, so that making a task table does not pay for importing torch
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        table = table[table["split"] == split]
    images = torch.from_numpy(dataset.images[table["index"].to_numpy()]).float()  # (N, C, H, W)
    images = images.div_(127.5).sub_(1.0)
    labels = torch.tensor(table["label"].to_numpy(dtype=np.int64))  # (N,)
    return images, labels


def subsample(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n, k)`` items out of ``n``, chosen with ``seed``."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def budget(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted positions of at most ``per_class`` examples of each label, chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))
