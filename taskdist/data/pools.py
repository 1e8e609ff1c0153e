"""The train / val / test pools of a dataset: every image in exactly one, drawn once per dataset.

Splits belong to the dataset, not the task: :func:`assign_pools` puts every image once into a train, val or
test pool, and every task draws its splits from those pools, so no task is tested on an image another task's
network trained on. :func:`pool_sizes` gives the pools' sizes from the registry alone (planning checks task
budgets with it, before any image is read).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from taskdist.checks import check_fraction
from taskdist.data.registry import DatasetInfo
from taskdist.seeds import stable_seed
from taskdist.specs import POOLS, SplitSpec

DEFAULT_SPLIT = SplitSpec(0.6, 0.2, 0.2)
"""Pools of a dataset without a test file of its own."""
DEFAULT_VAL = 0.1
"""Fraction of each class's train file held out for validation in a dataset with its own test file."""


def default_split(info: DatasetInfo) -> SplitSpec:
    """The split a dataset gets when its config entry names none."""
    return SplitSpec.of_train_part(DEFAULT_VAL) if info.has_test_part else DEFAULT_SPLIT


def check_split(split: SplitSpec) -> None:
    """``split`` must be a :class:`SplitSpec` of fractions in (0, 1) that sum to 1 (a config's split is checked
    by the schema and the config; this is for splits built in code)."""
    if not isinstance(split, SplitSpec):
        raise TypeError(f"split must be a SplitSpec, got {type(split).__name__}")
    parts = {"train": split.train, "val": split.val} | ({} if split.test is None else {"test": split.test})
    for key, value in parts.items():
        check_fraction(f"split {key}", value)
    total = sum(parts.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ValueError(f"split {' + '.join(parts)} must sum to 1, got {total:g}")


def check_split_fits(has_test_part: bool, split: SplitSpec, dataset: str) -> None:
    check_split(split)
    if split.own_test_part != has_test_part:
        expected = "test=None (its own test file is the test pool)" if has_test_part else "a test fraction"
        raise ValueError(f"dataset {dataset!r}: split {split} does not fit the dataset; expected {expected}")


def _pool_counts(n: int, n_test_part: int, split: SplitSpec) -> tuple[int, int, int]:
    """Pool sizes of one class of ``n`` (train-file) images and ``n_test_part`` test-file images.

    The single place that rounds, shared by :func:`assign_pools` and :func:`pool_sizes`.
    """
    if split.own_test_part:
        n_val = round(n * split.val)
        return n - n_val, n_val, n_test_part
    n_train = round(n * split.train)
    n_val = min(round(n * split.val), n - n_train)
    return n_train, n_val, n - n_train - n_val


def pool_sizes(info: DatasetInfo, split: SplitSpec) -> np.ndarray:
    """Sizes of every class's train / val / test pools, from the registry alone (no data loaded).

    Parameters
    ----------
    info
        Registry entry of the dataset.
    split
        The dataset's split; ``split.test`` must be None exactly when the
        dataset has its own test file.

    Returns
    -------
    numpy.ndarray
        int64, (n_classes, 3): columns in the order of :data:`POOLS`. Equal
        to the counts :func:`assign_pools` produces on the dataset's labels.
    """
    check_split_fits(info.has_test_part, split, info.name)
    test = info.test_counts or (0,) * info.n_classes
    return np.array([_pool_counts(n, t, split) for n, t in zip(info.train_counts, test, strict=True)], dtype=np.int64)


def assign_pools(
    labels: np.ndarray,
    origin: np.ndarray,
    has_test_part: bool,
    split: SplitSpec,
    seed: int,
    dataset: str,
    identities: Sequence[tuple] | None = None,
) -> np.ndarray:
    """Assign every image of a dataset to the train, val or test pool, stratified by class.

    Image ``k`` of class ``c`` (``k`` counts the class's images in source
    order) gets the key ``stable_seed(seed, "pool", dataset, c, k)``, or,
    given ``identities``, ``stable_seed(seed, "pool", dataset, *identities[i])``
    for image ``i`` (an image folder's ``(class name, part, file name)``); each
    class's images are ranked by key (ties by ``k``). Without a test file of
    its own, the first ``round(n_c * split.train)`` ranked images of class
    ``c`` form its train pool, the next ``round(n_c * split.val)`` its val
    pool and the rest its test pool. With one, the test file (``origin == 1``)
    is the test pool and the train file's images of each class are ranked the
    same way: ``round(n_c * split.val)`` of them are val, the first
    ``n_c - round(n_c * split.val)`` train. An image's pool depends only on
    the seed, the dataset name, its class and its position within the class
    (or its identity), so adding classes or tasks moves no image to another
    pool, and a dataset restricted to some whole classes keeps their pools.

    Parameters
    ----------
    labels
        Integer class of every image, (N,).
    origin
        0 (train file) or 1 (test file) per image, (N,); all 0 unless ``has_test_part``.
    has_test_part
        True if the source has its own test file.
    split
        The dataset's split (``split.test`` None exactly when ``has_test_part``).
    seed
        The experiment seed.
    dataset
        Name of the dataset (registry or config), part of every image's key.
    identities
        What names each image, one tuple per image; None: its class id and position in the class.

    Returns
    -------
    numpy.ndarray
        uint8, (N,): the index in :data:`POOLS` of each image's pool.

    Raises
    ------
    ValueError
        If the arrays do not match in shape, labels are negative, origin is not
        0/1, the dataset without a test file has test-file images, or the split
        does not fit the dataset.
    """
    labels, origin = np.asarray(labels), np.asarray(origin)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-d integer array, got {labels.dtype} {labels.shape}")
    if origin.shape != labels.shape:
        raise ValueError(f"origin must have the shape of labels {labels.shape}, got {origin.shape}")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    if not np.isin(origin, (0, 1)).all():
        raise ValueError(f"origin must be 0 (train file) or 1 (test file), got values {np.unique(origin).tolist()}")
    if not has_test_part and origin.any():
        n_test = int(origin.sum())
        raise ValueError(f"dataset {dataset!r} has no test file, but origin marks {n_test} images as from one")
    if identities is not None and len(identities) != len(labels):
        raise ValueError(f"identities must name each of the {len(labels)} images, got {len(identities)}")
    check_split_fits(has_test_part, split, dataset)

    pool = np.full(len(labels), POOLS.index("test"), dtype=np.uint8)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)  # the class's images in source order; k = position here
        if identities is None:
            parts = [(int(c), k) for k in range(len(members))]
        else:
            parts = [tuple(identities[i]) for i in members]
        keys = np.array([stable_seed(seed, "pool", dataset, *key) for key in parts], dtype=np.int64)
        in_train_file = origin[members] == 0
        position = np.flatnonzero(in_train_file)
        ranked = members[position[np.lexsort((position, keys[position]))]]
        n_train, n_val, _ = _pool_counts(len(ranked), 0, split)
        pool[ranked[:n_train]] = POOLS.index("train")
        pool[ranked[n_train : n_train + n_val]] = POOLS.index("val")
    return pool
