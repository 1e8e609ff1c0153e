"""Image folders as datasets, classes named by name, and datasets that hold only the classes the tasks use."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from wf import shared_run, snakemake, tiny_config, write_config

from taskdist import config
from taskdist.artifacts import dataset, io, matrices
from taskdist.config import ConfigError
from taskdist.data import datasets, pools, registry, sources
from taskdist.specs import POOLS, ImageSpec, SplitSpec

CLASSES = ("circle", "cross", "stripes", "wave")  # the classes the workflow's tasks use
EXTRA = ("aaa_extra", "zzz_extra")  # sort before and after them; their corrupt files fail if decoded
PER_CLASS = 60
SIZE = 16


def pattern(name: str) -> np.ndarray:
    """A class's smooth 16x16 RGB template, from its name alone (adding classes changes no other class's images)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    coarse = rng.uniform(0, 255, size=(4, 4, 3))
    return np.kron(coarse, np.ones((4, 4, 1)))  # (16, 16, 3)


def make_folder(root: Path, classes=CLASSES, n: int = PER_CLASS, seed: int = 0) -> Path:
    """``root/<class>/<image>``: ``n`` noisy copies of each class's template, PNG and JPEG alternately."""
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        for k in range(n):
            noisy = pattern(name) + rng.normal(0, 40, size=(SIZE, SIZE, 3))  # (16, 16, 3)
            image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
            image.save(folder / f"img{k:03d}.{'png' if k % 2 == 0 else 'jpg'}")
    return root


def add_corrupt_class(root: Path, name: str, n: int = 5) -> None:
    """A class folder of images and one file that claims to be a PNG but is not: reading the class fails."""
    make_folder(root, (name,), n=n)
    (root / name / "broken.png").write_bytes(b"not an image at all")


def _load_config(tmp_path: Path, cfg: dict):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config.load(path)


def folder_config(folder: Path, **dataset) -> dict:
    """The tiny config on an image folder: two tasks naming their classes, FTD only, no architecture search."""
    cfg = tiny_config()
    cfg["datasets"] = {"shapes": {"folder": str(folder), **dataset}}
    cfg["tasks"] = [
        {"id": "round", "dataset": "shapes", "classes": ["circle", "wave"]},
        {"id": "mixed", "dataset": "shapes", "labels": {"lines": ["cross", "stripes"], "curves": ["circle", "wave"]}},
    ]
    cfg["distances"] = {"methods": ["ftd"]}
    cfg["nas"] = {"base_tasks": [], "targets": []}
    cfg["transfer"]["replicates"] = 1
    return cfg


# --------------------------------------------------------------------------- listing


def test_scan_lists_sorted_classes_and_counts_skipping_hidden_and_non_image_files(tmp_path):
    root = make_folder(tmp_path / "f", ("b", "a"), n=4)
    make_folder(root, ("c",), n=2)
    (root / "a" / ".hidden.png").write_bytes(b"x")  # hidden: skipped (never opened)
    (root / "b" / "labels.json").write_text("{}")
    (root / "README.txt").write_text("about")
    (root / ".cache").mkdir()
    listing = sources.scan_folder(root)
    assert listing.class_names == ("a", "b", "c") and listing.parts == ("",)
    assert listing.counts(0) == (4, 4, 2) and not listing.has_test_part
    assert listing.files[0][2] == ("img000.png", "img001.jpg")
    info = registry.folder_info("shapes", listing)
    assert (info.n_classes, info.class_names, info.train_counts) == (3, ("a", "b", "c"), (4, 4, 2))
    assert info.test_counts == ()
    assert not info.embedded and pools.default_split(info) == pools.DEFAULT_SPLIT


def test_train_and_test_parts_are_the_train_file_and_the_test_pool(tmp_path):
    root = tmp_path / "f"
    make_folder(root / "train", ("x", "y"), n=10)
    make_folder(root / "test", ("x", "y"), n=3, seed=1)
    listing = sources.scan_folder(root)
    assert listing.parts == ("train", "test") and listing.counts(0) == (10, 10) and listing.counts(1) == (3, 3)
    info = registry.folder_info("xy", listing)
    assert info.has_test_part and info.class_counts == (13, 13)
    ds = datasets.load("xy", ImageSpec(12, 3), folder=root, seed=3)
    assert ds.images.shape == (26, 3, 12, 12) and ds.labels.tolist() == [0] * 10 + [1] * 10 + [0] * 3 + [1] * 3
    assert ds.origin.tolist() == [0] * 20 + [1] * 6
    assert (ds.pool[ds.origin == 1] == POOLS.index("test")).all()
    assert (ds.pool[ds.origin == 0] != POOLS.index("test")).all()
    assert np.bincount(ds.pool[ds.origin == 0]).tolist() == [18, 2]  # val = round(10 * 0.1) per class
    cfg = folder_config(root, split={"val": 0.2})
    cfg["tasks"] = [{"id": t, "dataset": "shapes", "classes": ["x", "y"], "samples_per_class": 5} for t in "ab"]
    cfg["transfer"] = {"samples_per_class": 2, "holdout_per_class": 1}
    exp = _load_config(tmp_path, cfg)
    assert exp.datasets["shapes"].split == SplitSpec.of_train_part(0.2)
    with pytest.raises(ConfigError, match=r"datasets\.shapes\.split\.train.*only `val`"):
        _load_config(tmp_path, folder_config(root, split={"train": 0.8, "val": 0.2}))


def test_train_and_test_parts_need_the_same_classes(tmp_path):
    root = tmp_path / "f"
    make_folder(root / "train", ("x", "y", "z"), n=2)
    make_folder(root / "test", ("w", "x", "y"), n=2)
    with pytest.raises(ValueError, match=r"only in train: \['z'\], only in test: \['w'\]"):
        sources.scan_folder(root)


def test_rgb_and_gray_reading_and_a_corrupt_file_named(tmp_path):
    root = make_folder(tmp_path / "f", ("a", "b"), n=3)
    rgb = datasets.load("f", ImageSpec(SIZE, 3), folder=root)
    gray = datasets.load("f", ImageSpec(SIZE, 1), folder=root)
    first = np.asarray(Image.open(root / "a" / "img000.png"))  # (16, 16, 3), no resize at the canonical size
    assert np.array_equal(rgb.images[0], first.transpose(2, 0, 1))
    assert np.array_equal(gray.images[0, 0], np.asarray(Image.open(root / "a" / "img000.png").convert("L")))
    (root / "b" / "img001.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"cannot decode .*b/img001\.jpg"):
        datasets.load("f", ImageSpec(SIZE, 1), folder=root)
    assert len(datasets.load("f", ImageSpec(SIZE, 1), folder=root, classes=[0]).labels) == 3  # class b is not read


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda r: (r / "a").mkdir(parents=True), r"class folder .*/f/a holds no images"),
        (lambda r: None, r"image folder .*/f does not exist"),
        (
            lambda r: make_folder(r, ("a",), n=1) and (r / "a" / "data.bin").write_bytes(b"1"),
            r"unexpected file .*a/data\.bin",
        ),
        (  # Pillow registers .pdf, .palm and .mpo as formats it writes but cannot open
            lambda r: make_folder(r, ("a",), n=1) and (r / "a" / "notes.pdf").write_bytes(b"%PDF-1.4"),
            r"unexpected file .*a/notes\.pdf .*not a file Pillow opens",
        ),
        (lambda r: make_folder(r, ("a",), n=1) and (r / "a" / "sub").mkdir(), r"a/sub is a folder inside class folder"),
        (lambda r: r.mkdir(), r"holds no class folders"),
    ],
    ids=["empty-class", "missing-root", "unexpected-file", "save-only-format", "nested-folder", "no-classes"],
)
def test_malformed_folders_are_config_errors_naming_the_path(tmp_path, make, match):
    root = tmp_path / "f"
    make(root)
    with pytest.raises(ConfigError, match=r"config key datasets\.shapes\.folder: .*" + match):
        _load_config(tmp_path, folder_config(root))


def test_an_unreadable_folder_is_a_config_error(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "f", ("a", "b"), n=1)
    scandir = os.scandir

    def unreadable_b(path):  # what listing a folder without read permission raises (root may list any)
        if Path(path) == root / "b":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", unreadable_b)
    with pytest.raises(ConfigError, match=r"datasets\.shapes\.folder: image folder .*f/b cannot be listed"):
        _load_config(tmp_path, folder_config(root))


@pytest.mark.parametrize(
    ("dataset", "match"),
    [
        ({"digits": {"folder": "x"}}, r"datasets\.digits\.folder: 'digits' is a registered dataset"),
        ({"shapes": {"folder": "F", "root": "r"}}, r"datasets\.shapes\.root: .*image folder"),
        ({"shapes": {"folder": "F", "download": True}}, r"datasets\.shapes\.download: .*image folder"),
        ({"shapes": None}, r"unknown dataset 'shapes'.*folder: path/to/root"),
    ],
)
def test_folder_keys_are_checked(tmp_path, dataset, match):
    root = make_folder(tmp_path / "f", ("a", "b"), n=1)
    cfg = folder_config(root)
    cfg["datasets"] = {
        k: v and {key: str(root) if val == "F" else val for key, val in v.items()} for k, v in dataset.items()
    }
    with pytest.raises(ConfigError, match=match):
        _load_config(tmp_path, cfg)


# --------------------------------------------------------------------------- classes by name


def test_tasks_name_classes_by_name_or_id_also_on_registered_datasets(tmp_path):
    cfg = tiny_config()
    cfg["datasets"] = {"cifar10": None}
    cfg["task_defaults"] = {"samples_per_class": 40}
    cfg["nas"] = {"base_tasks": [], "targets": []}
    cfg["tasks"] = [
        {"id": "pets", "dataset": "cifar10", "classes": ["cat", "dog"]},
        {"id": "mix", "dataset": "cifar10", "labels": {"animal": ["cat", 6], "vehicle": ["airplane", 9]}},
    ]
    exp = _load_config(tmp_path, cfg)
    assert exp.tasks["pets"].label_map == ((3,), (5,)) and exp.tasks["pets"].label_names == ("cat", "dog")
    assert exp.tasks["mix"].label_map == ((3, 6), (0, 9))
    assert exp.tasks["mix"].classes == (0, 3, 6, 9)  # the dataset files the task reads
    cfg["tasks"][0]["classes"] = ["cat", "dgo"]
    with pytest.raises(ConfigError, match=r"tasks\[pets\]\.classes: .*no class named 'dgo'; did you mean 'dog'"):
        _load_config(tmp_path, cfg)
    cfg["tasks"][0]["classes"] = ["cat", "cat"]
    with pytest.raises(ConfigError, match=r"tasks\[pets\]\.classes: class 3 appears twice"):
        _load_config(tmp_path, cfg)


def test_folder_tasks_name_classes_and_budgets_are_checked_from_the_listing(tmp_path):
    root = make_folder(tmp_path / "f", n=20)
    cfg = folder_config(root)
    cfg["task_defaults"] = {"samples_per_class": 10}
    cfg["transfer"] |= {"samples_per_class": 2, "holdout_per_class": 1}
    exp = _load_config(tmp_path, cfg)
    assert exp.tasks["round"].label_map == ((0,), (3,)) and exp.tasks["round"].label_names == ("circle", "wave")
    # by name: an id, e.g. 3, would name another class once a class folder sorting first is added
    assert exp.tasks["mixed"].label_map == ((1, 2), (0, 3))
    assert exp.datasets["shapes"].folder == str(root) and exp.datasets["shapes"].class_names == CLASSES
    cfg["tasks"][0]["classes"] = [0, "wave"]  # ids in sorted order of the folder names
    assert _load_config(tmp_path, cfg).tasks["round"].label_map == ((0,), (3,))
    cfg["task_defaults"] = {"samples_per_class": 40}  # 20 images per class: 12 train, 4 val, 4 test
    with pytest.raises(ConfigError, match=r"tasks\[round\]\.samples_per_class: .*class 0 \('circle'\)"):
        _load_config(tmp_path, cfg)


# --------------------------------------------------------------------------- pools and subsets


def _by_identity(ds: dataset.Dataset, listing: sources.FolderListing) -> dict[tuple[str, str], int]:
    names = [
        (listing.class_names[c], f)
        for p in range(len(listing.parts))
        for c in range(len(listing.class_names))
        for f in listing.files[p][c]
    ]
    names = [n for n in names if listing.class_names.index(n[0]) in set(ds.labels.tolist())]
    return dict(zip(names, ds.pool.tolist(), strict=True))


def test_adding_a_class_moves_no_image_of_the_others_to_another_pool(tmp_path):
    root = make_folder(tmp_path / "f", ("b", "c"), n=20)
    before = _by_identity(datasets.load("f", ImageSpec(12, 1), folder=root, seed=5), sources.scan_folder(root))
    make_folder(root, ("a",), n=20)  # sorts first: every class id shifts
    after = _by_identity(datasets.load("f", ImageSpec(12, 1), folder=root, seed=5), sources.scan_folder(root))
    assert {k: v for k, v in after.items() if k[0] != "a"} == before
    assert np.bincount(list(before.values())).tolist() == [24, 8, 8]


@pytest.mark.parametrize("source", ["digits", "folder"])
def test_a_subset_is_the_rows_of_its_classes_in_the_full_read(tmp_path, source):
    kwargs = {"folder": make_folder(tmp_path / "f", n=12)} if source == "folder" else {}
    name = "shapes" if source == "folder" else "digits"
    full = datasets.load(name, ImageSpec(12, 1), seed=2, **kwargs)
    part = datasets.load(name, ImageSpec(12, 1), seed=2, classes=[3, 1], **kwargs)
    rows = np.isin(full.labels, [1, 3])
    for key in ("images", "labels", "origin", "pool"):
        assert np.array_equal(getattr(part, key), getattr(full, key)[rows]), key
    assert part.class_names == full.class_names and len(part.class_names) == (4 if source == "folder" else 10)
    dataset.write(part, tmp_path / "part.npz", dataset=name)
    back = dataset.read(tmp_path / "part.npz")
    for key in ("images", "labels", "origin", "pool", "ids"):
        assert np.array_equal(getattr(back, key), getattr(part, key)), key


def test_load_checks_classes_and_folder_arguments(tmp_path):
    root = make_folder(tmp_path / "f", ("a", "b"), n=1)
    with pytest.raises(ValueError, match=r"classes must be a non-empty list of class ids 0\.\.9, got \[10\]"):
        datasets.load("digits", ImageSpec(), classes=[10])
    with pytest.raises(ValueError, match=r"'digits' is a registered dataset"):
        datasets.load("digits", ImageSpec(), folder=root)
    with pytest.raises(ValueError, match=r"root and download do not apply"):
        datasets.load("f", ImageSpec(), folder=root, download=True)


# --------------------------------------------------------------------------- the workflow

TARGETS = ("results/distances/ftd.parquet", "results/transfer.parquet")


@shared_run
def folder_runs(workdir):
    """The workflow to the FTD matrix and the transfer table on an image folder, then on the same folder with two
    more classes that no task uses (one sorting first, one last, each with a corrupt file): (run, run with extras)."""
    runs = []
    for extra in (False, True):
        run = workdir / ("extra" if extra else "plain")
        folder = make_folder(run / "images")
        if extra:
            for name in EXTRA:
                add_corrupt_class(folder, name)
        write_config(run, folder_config(folder))
        snakemake(run, "--cores", "2", *TARGETS)
        runs.append(run)
    return tuple(runs)


def test_unused_classes_change_no_artifact_and_are_never_read(folder_runs):
    plain, extra = folder_runs
    for path in ("results/tasks/round.parquet", "results/tasks/mixed@resample.parquet", "results/transfer.parquet"):
        assert io.read_parquet(plain / path).equals(io.read_parquet(extra / path)), path
    a = matrices.read_method(plain / TARGETS[0], "ftd")
    b = matrices.read_method(extra / TARGETS[0], "ftd")
    assert a.equals(b) and len(a) == 4 and (a["value"] > 0).sum() == 2
    transfer = io.read_parquet(plain / TARGETS[1])
    assert set(transfer["source"]) == {"round", "mixed"} and transfer["accuracy"].between(0, 1).all()
    # one file per class a task draws, named by its id (the extra class sorting first shifts the ids)
    files = {run: sorted((run / "resources/datasets/shapes").glob("*.npz")) for run in (plain, extra)}
    assert [f.name for f in files[plain]] == [f"{c}.npz" for c in range(len(CLASSES))]
    assert [f.name for f in files[extra]] == [f"{c + 1}.npz" for c in range(len(CLASSES))]
    p, e = dataset.read(files[plain]), dataset.read(files[extra])
    assert e.class_names == ("aaa_extra", *CLASSES, "zzz_extra") and p.class_names == CLASSES
    assert np.array_equal(e.labels, p.labels + 1)
    assert len(p.labels) == len(CLASSES) * PER_CLASS and set(e.labels.tolist()) == {1, 2, 3, 4}
    for key in ("images", "origin", "pool", "ids"):
        assert np.array_equal(getattr(p, key), getattr(e, key)), key
