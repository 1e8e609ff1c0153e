"""The dataset file ``resources/datasets/{dataset}/{class}.npz``: a :class:`Dataset`, its one writer and reader.

:func:`taskdist.data.datasets.load` makes a :class:`Dataset` (canonical images, labels, pools, ids); the
workflow keeps one file per class a task draws, so that a dataset is read for the classes its tasks use and a
task that draws a new class changes no file that other tasks read. The file is an npz archive of the arrays
:data:`KEYS` (``class_names`` as strings) and the entry ``format`` (:data:`taskdist.artifacts.io.NPZ_FORMAT_ENTRY`)
declaring :data:`FORMAT` and the name ``dataset``. :func:`read` concatenates the files of several classes and
turns a missing, truncated, foreign or outdated file into an :class:`~taskdist.artifacts.io.ArtifactError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taskdist.artifacts import io
from taskdist.specs import POOLS

FORMAT = io.Format("dataset", 1)
"""Format of a dataset file; raise its version when the layout changes (and the dataset stage's VERSION)."""
KEYS = ("images", "labels", "origin", "pool", "class_names", "ids")
_ARRAYS = ("images", "labels", "origin", "pool", "ids")
WHAT = "dataset file"


@dataclass(frozen=True)
class Dataset:
    """A whole dataset in canonical form.

    Parameters
    ----------
    images
        uint8, (N, C, H, W).
    labels
        int64, (N,), indices into ``class_names``.
    origin
        uint8, (N,): 0 if the image comes from the source's train file, 1 from its
        test file (embedded datasets have a single file: all 0).
    pool
        uint8, (N,): the pool of each image, an index into :data:`POOLS`
        (0 train, 1 val, 2 test); see :func:`taskdist.data.pools.assign_pools`.
    class_names
        Name of each class, indexed by label.
    ids
        int64, (N,), distinct: each image's name, the same whichever other classes were read: for
        a registered dataset its position in the whole source (train file then test file, every
        class), for an image folder a number from its identity
        (:func:`taskdist.seeds.stable_id` of its class name, part and file name; positions there
        move when class folders are added).
        Task tables name images by it (:func:`taskdist.data.tasks.rows`), so a dataset file that gains
        or loses other classes leaves every task's table valid. None: ``0..N-1`` (the whole source).
    """

    images: np.ndarray
    labels: np.ndarray
    origin: np.ndarray
    pool: np.ndarray
    class_names: tuple[str, ...]
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        images = self.images
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        n = len(images)
        if self.ids is None:
            object.__setattr__(self, "ids", np.arange(n, dtype=np.int64))
        elif n and (self.ids.min() < 0 or len(np.unique(self.ids)) != n):
            raise ValueError(f"ids must be distinct and >= 0, got {n - len(np.unique(self.ids))} repeated")
        for field, dtype in (("labels", np.int64), ("origin", np.uint8), ("pool", np.uint8), ("ids", np.int64)):
            array = getattr(self, field)
            if array.dtype != dtype or array.shape != (n,):
                raise ValueError(f"{field} must be {np.dtype(dtype)} ({n},), got {array.dtype} {array.shape}")
        if n and self.pool.max() >= len(POOLS):
            raise ValueError(f"pool values must index {POOLS}, got {self.pool.max()}")


def write(ds: Dataset, path: str | Path, *, dataset: str) -> None:
    """Write ``ds``, (some classes of) the dataset named ``dataset`` in the config, to ``path`` atomically."""
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a Dataset, got {type(ds).__name__}")
    arrays = {key: getattr(ds, key) for key in _ARRAYS}
    io.write_npz({**arrays, "class_names": np.array(ds.class_names, dtype=str)}, path, FORMAT, {"dataset": dataset})


def read_named(path: str | Path) -> tuple[Dataset, dict[str, str]]:
    """The dataset file at ``path`` and its names (``dataset``).

    Raises
    ------
    ArtifactError
        If the file is missing, truncated, not an npz archive, declares no or another format (e.g. written by
        an older taskdist), lacks an array or holds arrays that do not make a :class:`Dataset`; the message
        names the file and how to recompute it.
    """
    arrays, names = io.read_npz(path, KEYS, FORMAT, WHAT)
    try:
        ds = Dataset(**{key: arrays[key] for key in _ARRAYS},
                     class_names=tuple(str(s) for s in arrays["class_names"]))
    except (TypeError, ValueError) as e:
        raise io.ArtifactError(f"{WHAT} {path} does not hold a dataset ({e}): {io.recompute_hint(path)}") from e
    if "dataset" not in names:
        raise io.ArtifactError(f"{WHAT} {path} does not name its dataset: {io.recompute_hint(path)}")
    return ds, names


def read(path: str | os.PathLike | Sequence[str | os.PathLike]) -> Dataset:
    """The dataset file at ``path``, or several files of one dataset (the workflow writes one per class)
    concatenated in the order given.

    Raises
    ------
    ValueError
        If ``path`` is an empty sequence.
    ArtifactError
        If a file is unreadable (:func:`read_named`), or the files are not parts of one dataset (their
        dataset or class names differ).
    """
    if isinstance(path, (str, os.PathLike)):
        return read_named(path)[0]
    paths = list(path)
    if not paths:
        raise ValueError("no dataset files given")
    parts, names = zip(*(read_named(p) for p in paths), strict=True)
    if len({n["dataset"] for n in names}) > 1 or len({part.class_names for part in parts}) > 1:
        about = sorted({n["dataset"] for n in names})
        raise io.ArtifactError(f"dataset files {[str(p) for p in paths]} are not parts of one dataset (they name "
                               f"{about}, or their class names differ): delete them and rerun snakemake")
    return Dataset(**{k: np.concatenate([getattr(part, k) for part in parts]) for k in _ARRAYS},
                   class_names=parts[0].class_names)
