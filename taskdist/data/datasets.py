"""Dataset sources turned into canonical arrays.

:data:`taskdist.data.registry.DATASETS` registers every source: *embedded* ones never touch the
network; torchvision ones are read from ``root`` and fetched only when ``download=True``; an *image
folder* (``root/<class>/<image>``, torchvision's ``ImageFolder`` layout) is any directory, described by
:func:`taskdist.data.registry.folder_info` from a listing (the readers: :mod:`taskdist.data.sources`).

:func:`load` concatenates a source's train and test files (``origin`` says
which one each image came from) and brings every image to the canonical size
and channel count of an :class:`ImageSpec` with :func:`canonicalize`. Given the
classes the experiment's tasks use, it keeps only their images (whole
classes, in source order, with their original class ids) and never decodes
the others' (image folders) or canonicalises them (every source).

Splits belong to the dataset: :func:`taskdist.data.pools.assign_pools` puts every image once into
a train, val or test pool (``pool``), and every task draws its splits from
those pools, so no task is tested on an image another task trained on.

:func:`load` returns a :class:`~taskdist.artifacts.dataset.Dataset`; its file, one per class,
``resources/datasets/{dataset}/{class}.npz``, is written and read by :mod:`taskdist.artifacts.dataset`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts.dataset import Dataset
from taskdist.checks import check_choice, check_int, is_int
from taskdist.data import sources
from taskdist.data.pools import assign_pools, check_split_fits, default_split
from taskdist.data.registry import DATASETS, DatasetInfo, dataset_info, folder_info
from taskdist.seeds import stable_id
from taskdist.specs import ImageSpec, SplitSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

VERSION = 4
# 2: images assigned to train / val / test pools (``pool`` in the npz); 3: only the used classes, ``ids``;
# 4: the npz declares its format and dataset (taskdist.artifacts.dataset), same arrays
DEFAULT_ROOT = "data/torchvision"
_CHUNK = 4096  # images converted at once by canonicalize
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B



# --------------------------------------------------------------------------- arrays


def check_image(image: ImageSpec) -> None:
    """``image`` must be an :class:`ImageSpec` of size >= 8 and 1 or 3 channels (a config's is checked by the
    schema; this is for specs built in code)."""
    if not isinstance(image, ImageSpec):
        raise TypeError(f"image must be an ImageSpec, got {type(image).__name__}")
    check_int("image size", image.size, minimum=8)
    check_choice("image channels", image.channels, (1, 3))


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
    check_split_fits(info.has_test_part, split, name)
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
