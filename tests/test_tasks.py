"""Task materialisation: budgets, relabelling, stratified splits, determinism."""

import numpy as np
import pytest

from taskdist import tasks
from taskdist.config import SplitSpec, TaskSpec
from taskdist.data import Dataset

LABELS = np.repeat(np.arange(6), 40)  # 6 classes x 40 images


def _spec(label_map, per_class=20, seed=3):
    return TaskSpec(
        id="t", dataset="d", label_map=label_map, label_names=tuple(map(str, range(len(label_map)))),
        samples_per_class=per_class, split=SplitSpec(0.6, 0.2, 0.2), seed=seed,
    )


def test_budget_labels_and_stratified_splits():
    table = tasks.materialize(_spec(((0,), (3,), (5,))), LABELS)
    assert list(table.columns) == ["index", "label", "split"]
    assert table["index"].is_unique and table["index"].is_monotonic_increasing
    counts = table.groupby(["label", "split"]).size().unstack()
    assert (counts["train"] == 12).all() and (counts["val"] == 4).all() and (counts["test"] == 4).all()
    # label i comes from original class label_map[i]
    assert (LABELS[table["index"]] == np.array([0, 3, 5])[table["label"]]).all()


def test_relabelled_task_spreads_the_budget_over_merged_classes():
    table = tasks.materialize(_spec(((0, 2, 4), (1, 3, 5)), per_class=20), LABELS)
    original = LABELS[table["index"]]
    assert sorted(np.bincount(original)) == [6, 6, 7, 7, 7, 7]
    assert set(original[table["label"] == 0]) == {0, 2, 4}
    assert (table.groupby("label").size() == 20).all()


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = tasks.materialize(_spec(((0,), (1,))), LABELS)
    b = tasks.materialize(_spec(((0,), (1,))), LABELS)
    c = tasks.materialize(_spec(((0,), (1,)), seed=4), LABELS)
    assert a.equals(b)
    assert not a.equals(c)


def test_budget_the_data_cannot_meet_names_the_class():
    with pytest.raises(ValueError, match="class 0 of dataset .d. has 40 images, 50 needed"):
        tasks.materialize(_spec(((0, 1),), per_class=100), LABELS)


def test_arrays_scales_images_and_selects_a_split():
    images = np.zeros((len(LABELS), 1, 8, 8), dtype=np.uint8)
    images[:, :, 0, 0] = 255
    ds = Dataset(images=images, labels=LABELS.astype(np.int64), origin=np.zeros(len(LABELS), np.uint8),
                 class_names=tuple("abcdef"))
    table = tasks.materialize(_spec(((0,), (1,))), LABELS)
    x, y = tasks.arrays(ds, table, "val")
    assert x.shape == (8, 1, 8, 8) and y.tolist().count(0) == 4
    assert x[:, 0, 0, 0].eq(1).all() and x[:, 0, 1, 1].eq(-1).all()
    with pytest.raises(ValueError, match="split"):
        tasks.arrays(ds, table, "training")


def test_subsample():
    assert tasks.subsample(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    picked = tasks.subsample(100, 10, 0)
    assert len(set(picked)) == 10 and (np.diff(picked) > 0).all()
    assert picked.tolist() == tasks.subsample(100, 10, 0).tolist()
