"""Task materialisation: budgets, relabelling, splits drawn from the dataset's pools, determinism, no leakage."""

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest

from taskdist import config, specs
from taskdist.artifacts.dataset import Dataset
from taskdist.config import SplitSpec
from taskdist.data import registry, sources, tasks
from taskdist.data.pools import assign_pools
from taskdist.seeds import stable_seed
from taskdist.specs import POOLS, TaskSpec, resample

REPO = Path(__file__).resolve().parents[1]
LABELS = np.repeat(np.arange(6), 40)  # 6 classes x 40 images
SPLIT = SplitSpec(0.6, 0.2, 0.2)
POOL = assign_pools(LABELS, np.zeros(len(LABELS), np.uint8), False, SPLIT, 0, "d")  # 24 / 8 / 8 per class


def _spec(label_map, per_class=20, seed=3, split=SPLIT):
    return TaskSpec(
        id="t", dataset="d", label_map=label_map, label_names=tuple(map(str, range(len(label_map)))),
        samples_per_class=per_class, split=split, seed=seed,
    )


def _in_matching_pools(table, pools):
    return (np.array(POOLS)[pools[table["index"]]] == table["split"].to_numpy()).all()


def test_budget_labels_and_splits_from_the_pools():
    table = tasks.materialize(_spec(((0,), (3,), (5,))), LABELS, POOL)
    assert list(table.columns) == ["index", "label", "split"]
    assert table["index"].dtype == np.int64 and table["label"].dtype == np.int64
    assert table["index"].is_unique and table["index"].is_monotonic_increasing
    counts = table.groupby(["label", "split"]).size().unstack()
    assert (counts["train"] == 12).all() and (counts["val"] == 4).all() and (counts["test"] == 4).all()
    # label i comes from original class label_map[i]; every split from its own pool
    assert (LABELS[table["index"]] == np.array([0, 3, 5])[table["label"]]).all()
    assert _in_matching_pools(table, POOL)


def test_relabelled_task_spreads_the_budget_over_merged_classes():
    spec = _spec(((0, 2, 4), (1, 3, 5)), per_class=20)
    table = tasks.materialize(spec, LABELS, POOL)
    original = LABELS[table["index"]]
    assert sorted(np.bincount(original)) == [6, 6, 7, 7, 7, 7]
    assert set(original[table["label"] == 0]) == {0, 2, 4}
    assert (table.groupby("label").size() == 20).all()
    # per original class, largest remainder: 7 -> 4.2 / 1.4 / 1.4 -> 4 / 2 / 1; 6 -> 3.6 / 1.2 / 1.2 -> 4 / 1 / 1
    assert spec.split_counts(np.tile([24, 8, 8], (6, 1))) == {0: (4, 2, 1), 2: (4, 2, 1), 4: (4, 1, 1),
                                                              1: (4, 2, 1), 3: (4, 2, 1), 5: (4, 1, 1)}
    per_class = table.assign(c=original).groupby(["c", "split"]).size().unstack()[list(POOLS)]
    assert per_class.loc[0].tolist() == [4, 2, 1] and per_class.loc[4].tolist() == [4, 1, 1]
    assert _in_matching_pools(table, POOL)


def test_classes_that_draw_nothing_take_nothing_from_any_pool():
    spec = _spec(((0, 1, 2, 3), (4,)), per_class=3, split=SplitSpec.of_train_part(0.5))
    sizes = np.array([[5, 5, 2], [5, 5, 2], [5, 5, 2], [0, 0, 0], [5, 5, 2]])  # class 3 has no images at all
    assert spec.split_counts(sizes)[3] == (0, 0, 0)
    assert spec.split_counts(sizes)[4] == (1, 1, 1)


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = tasks.materialize(_spec(((0,), (1,))), LABELS, POOL)
    b = tasks.materialize(_spec(((0,), (1,))), LABELS, POOL)
    c = tasks.materialize(_spec(((0,), (1,)), seed=4), LABELS, POOL)
    assert a.equals(b)
    assert not a.equals(c)


def test_budget_the_data_cannot_meet_names_the_class():
    with pytest.raises(ValueError, match="class 0 of dataset .d. has 40 images, 50 needed"):
        tasks.materialize(_spec(((0, 1),), per_class=100), LABELS, POOL)


def test_pool_too_small_names_task_class_pool_and_counts():
    pools = POOL.copy()
    pools[np.flatnonzero((LABELS == 1) & (POOL == 1))[1:]] = 0  # class 1 keeps one val image
    with pytest.raises(ValueError, match="task 't': class 1 of dataset 'd' has 1 images in its val pool, 4 needed"):
        tasks.materialize(_spec(((0,), (1,))), LABELS, pools)


def test_a_dataset_with_its_own_test_file_splits_tasks_in_the_proportions_of_its_pools():
    origin = np.tile(np.repeat(np.array([0, 1], np.uint8), [30, 10]), 6)  # per class: 30 train file, 10 test file
    labels = np.repeat(np.arange(6), 40)
    split = SplitSpec.of_train_part(0.25)
    pools = assign_pools(labels, origin, True, split, 0, "d")  # per class 22 train, 8 val, 10 test
    table = tasks.materialize(_spec(((0,), (1,)), split=split), labels, pools)
    counts = table.groupby(["label", "split"]).size().unstack()
    assert (counts["train"] == 11).all() and (counts["val"] == 4).all() and (counts["test"] == 5).all()
    assert (origin[table["index"][table["split"] == "test"]] == 1).all()
    assert (origin[table["index"][table["split"] != "test"]] == 0).all()


def test_resample_is_an_independent_draw_from_the_same_pools():
    spec = _spec(((0, 2), (1,)))
    again = resample(spec)
    assert again.id == "t@resample" == spec.id + specs.RESAMPLE_SUFFIX
    assert again.seed == stable_seed(spec.seed, "resample") != spec.seed
    assert (again.dataset, again.label_map, again.samples_per_class, again.split) == (
        spec.dataset, spec.label_map, spec.samples_per_class, spec.split
    )
    a, b = tasks.materialize(spec, LABELS, POOL), tasks.materialize(again, LABELS, POOL)
    assert not a["index"].equals(b["index"])
    assert a.groupby(["label", "split"]).size().equals(b.groupby(["label", "split"]).size())
    assert _in_matching_pools(b, POOL)


def test_arrays_scales_images_and_selects_a_split():
    images = np.zeros((len(LABELS), 1, 8, 8), dtype=np.uint8)
    images[:, :, 0, 0] = 255
    ds = Dataset(images=images, labels=LABELS.astype(np.int64), origin=np.zeros(len(LABELS), np.uint8),
                 pool=POOL, class_names=tuple("abcdef"))
    table = tasks.materialize(_spec(((0,), (1,))), ds.labels, ds.pool)
    x, y = tasks.arrays(ds, table, "val")
    assert x.shape == (8, 1, 8, 8) and y.tolist().count(0) == 4
    assert x[:, 0, 0, 0].eq(1).all() and x[:, 0, 1, 1].eq(-1).all()
    with pytest.raises(ValueError, match="split"):
        tasks.arrays(ds, table, "training")


def test_a_table_names_the_same_images_whichever_other_classes_the_dataset_file_holds():
    """Tables name images by their place in the whole source (Dataset.ids): a file of fewer classes gives the
    same table and the same arrays, and a file without a task's classes is an error that says what to do."""
    images = np.arange(len(LABELS), dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(8, 2).repeat(8, 3)
    full = Dataset(images, LABELS.astype(np.int64), np.zeros(len(LABELS), np.uint8), POOL, tuple("abcdef"))
    keep = np.isin(LABELS, (1, 3, 4))
    part = Dataset(images[keep], full.labels[keep], full.origin[keep], POOL[keep], full.class_names,
                   np.flatnonzero(keep))
    spec = _spec(((3,), (1,)))
    table = tasks.materialize(spec, full.labels, full.pool, full.ids)
    assert table.equals(tasks.materialize(spec, part.labels, part.pool, part.ids))
    for split in ("train", "test"):
        (x, y), (x_part, y_part) = tasks.arrays(full, table, split), tasks.arrays(part, table, split)
        assert x.equal(x_part) and y.equal(y_part)
    other = Dataset(images[~keep], full.labels[~keep], full.origin[~keep], POOL[~keep], full.class_names,
                    np.flatnonzero(~keep))
    with pytest.raises(ValueError, match="lacks 40 of the task's images.*recompute"):
        tasks.arrays(other, table)


def test_subsample():
    assert tasks.subsample(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    picked = tasks.subsample(100, 10, 0)
    assert len(set(picked)) == 10 and (np.diff(picked) > 0).all()
    assert picked.tolist() == tasks.subsample(100, 10, 0).tolist()


# --------------------------------------------------------------------------- leakage across the shipped configs

CONFIGS = [REPO / "config.yaml", *sorted((REPO / "tests" / "workflow").glob("*.yaml"))]


@functools.cache
def _embedded_labels(name: str) -> np.ndarray:
    return sources.EMBEDDED[name]()[1]  # labels of the real data; the images are not needed


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_task_is_tested_on_an_image_any_task_learns_from(path):
    """Every pair of tasks of a shipped config, resamples included: test images are never train or val images."""
    exp = config.load(path)
    specs = [*exp.tasks.values(), *(resample(spec) for spec in exp.tasks.values())]
    seeds = [spec.seed for spec in specs]
    assert len(set(seeds)) == len(seeds), "tasks share a seed"
    pools = {}
    for name, ds in exp.datasets.items():
        assert registry.dataset_info(name).embedded, f"{name}: this test reads embedded labels only"
        labels = _embedded_labels(name)
        pools[name] = assign_pools(labels, np.zeros(len(labels), np.uint8), False, ds.split, exp.seed, name)
    tested, learned = {}, {}
    for spec in specs:
        table = tasks.materialize(spec, _embedded_labels(spec.dataset), pools[spec.dataset])
        tested[spec.id] = set(table["index"][table["split"] == "test"])
        learned[spec.id] = set(table["index"][table["split"] != "test"])
        assert tested[spec.id] and learned[spec.id]
    for a, b in itertools.product(specs, repeat=2):
        if a.dataset == b.dataset:
            leaked = tested[a.id] & learned[b.id]
            assert not leaked, f"{len(leaked)} test images of {a.id} are train/val images of {b.id}"
