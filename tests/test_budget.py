"""The labelled budget of a target: the per-replicate draw, its seed, the examples a method reads, the job params."""

import numpy as np
import pandas as pd
import pytest

from taskdist.artifacts.task_table import TaskTable
from taskdist.data import budget
from taskdist.specs import BudgetSpec, FinetuneSpec, LinearSpec, TransferSpec

SPEC = BudgetSpec(samples_per_class=4, holdout_per_class=3, seed=5)


def _table(n_labels=3, per_split=(12, 6, 6)):
    rows = []
    index = 0
    for label in range(n_labels):
        for split, n in zip(("train", "val", "test"), per_split, strict=True):
            for _ in range(n):
                rows.append({"index": index, "label": label, "split": split})
                index += 1
    return pd.DataFrame(rows)


def test_draw_takes_per_label_from_train_and_val_and_is_deterministic():
    table = _table()
    fit, held = budget.draw(table, SPEC, replicate=0)
    assert (table.iloc[fit]["split"] == "train").all() and (table.iloc[held]["split"] == "val").all()
    assert table.iloc[fit]["label"].value_counts().tolist() == [4, 4, 4]
    assert table.iloc[held]["label"].value_counts().tolist() == [3, 3, 3]
    again = budget.draw(table, SPEC, replicate=0)
    assert np.array_equal(fit, again[0]) and np.array_equal(held, again[1])
    other = budget.draw(table, SPEC, replicate=1)
    assert not np.array_equal(fit, other[0])


@pytest.mark.parametrize("kind", ["DataFrame", "TaskTable"])
def test_draw_is_the_one_earlier_runs_trained_on(kind):
    """The rows and seeds as taskdist.evaluation.transfer drew them before the budget had a module of its own:
    results computed then are reused, so the draw must not change (raise transfer.VERSION if it must). A task
    table as jobs read it (TaskTable, without pandas) draws the same rows as its DataFrame."""
    table = _table() if kind == "DataFrame" else TaskTable.of(_table())
    assert [budget.replicate_seed(5, r) for r in (0, 1)] == [1234718290, 2113015114]
    fit, held = budget.draw(table, SPEC, replicate=0)
    assert fit.tolist() == [1, 3, 4, 6, 25, 26, 27, 29, 50, 51, 53, 57]
    assert held.tolist() == [12, 13, 15, 38, 40, 41, 62, 63, 65]
    fit, held = budget.draw(table, SPEC, replicate=1)
    assert fit.tolist() == [3, 5, 6, 8, 24, 26, 31, 32, 48, 49, 53, 59]
    assert held.tolist() == [14, 15, 17, 37, 38, 40, 61, 62, 65]


def test_draw_larger_than_a_split_names_the_counts():
    with pytest.raises(ValueError, match=r"needs 7 val examples per label; the task has \[6, 6, 6\]"):
        budget.draw(_table(), BudgetSpec(4, 7, seed=0), replicate=0)


def test_draw_needs_a_budget_spec():
    with pytest.raises(TypeError, match="spec must be a BudgetSpec, got dict"):
        budget.draw(_table(), {"samples_per_class": 4, "holdout_per_class": 3, "seed": 5}, replicate=0)


def test_methods_read_replicate_zeros_budget_as_a_train_split():
    table = _table()
    examples = budget.method_examples(table, SPEC)
    fit, held = budget.draw(table, SPEC, replicate=0)
    assert isinstance(examples, TaskTable)
    assert examples["index"].tolist() == sorted(table.iloc[np.concatenate([fit, held])]["index"])
    assert examples["label"].tolist() == table.iloc[np.sort(np.concatenate([fit, held]))]["label"].tolist()
    assert set(examples["split"]) == {"train"} and list(examples.to_frame().columns) == list(table.columns)
    assert budget.method_examples(TaskTable.of(table), SPEC).to_frame().equals(examples.to_frame())


def test_methods_read_the_same_number_of_examples_whatever_the_labels():
    """distances.target_samples: a fixed total of replicate 0's budget, spread over the labels evenly."""
    for n_labels in (2, 3, 5):
        table = _table(n_labels=n_labels)
        spec = BudgetSpec(4, 3, seed=5, method_samples=13)
        examples = budget.method_examples(table, spec)
        assert len(examples) == 13 and set(examples["split"]) == {"train"}
        counts = np.unique(examples["label"], return_counts=True)[1]
        assert len(counts) == n_labels and counts.max() - counts.min() <= 1
        whole = set(budget.method_examples(table, SPEC)["index"])
        assert set(examples["index"]) <= whole, "a subset of the budget a user has"
        assert examples.to_frame().equals(budget.method_examples(table, spec).to_frame())
    with pytest.raises(ValueError, match="cannot read 22 examples of a labelled budget of 21"):
        budget.method_examples(_table(), BudgetSpec(4, 3, seed=5, method_samples=22))


def test_without_a_budget_methods_read_the_whole_table():
    table = _table()
    assert budget.method_examples(table, None) is table


def test_the_transfer_spec_gives_the_budget_of_a_target_seed():
    spec = TransferSpec(samples_per_class=6, holdout_per_class=3, replicates=2, settings=("finetune",),
                        finetune=FinetuneSpec(max_epochs=6, patience=2, batch_size=16, lr=0.003),
                        linear=LinearSpec(l2=1e-3, max_iter=50, tol=1e-6))
    assert spec.labelled_budget(11) == BudgetSpec(samples_per_class=6, holdout_per_class=3, seed=11)


def test_job_params_rebuild_the_spec_without_the_version():
    params = {"samples_per_class": 4, "holdout_per_class": 3, "seed": 5, "method_samples": None, "version": 3}
    assert budget.from_job_params(params) == SPEC
    assert budget.from_job_params(None) is None


@pytest.mark.parametrize("params", [
    {"samples_per_class": 4, "holdout_per_class": 3, "seed": 5},  # no version
    {"samples_per_class": 4, "holdout_per_class": 3, "seed": 5, "version": 3, "replicates": 2},
    {"samples_per_class": 4, "seed": 5, "version": 3},
])
def test_job_params_of_another_shape_name_the_keys(params):
    with pytest.raises(ValueError, match="labelled budget params must hold"):
        budget.from_job_params(params)
