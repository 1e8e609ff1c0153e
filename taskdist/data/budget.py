"""The labelled budget of a target: the few labelled examples a user has of it.

A target's labelled budget (:class:`~taskdist.specs.BudgetSpec`) is, per
replicate ``r``, ``samples_per_class`` examples of each label drawn from the
target's train split (to train on) and ``holdout_per_class`` of each label
drawn from its val split (held out, to decide when training has converged),
with the seed :func:`replicate_seed` ``(spec.seed, r)``. The ground truth of
transfer (:mod:`taskdist.evaluation.transfer`) trains on every replicate's
budget; the distances and scores that read labelled target examples read
replicate 0's (:func:`method_examples`, ``distances.target_examples: budget``),
so source selection is judged with the labels transfer gets.

The draw's :data:`VERSION` is in the params of every job that reads a
labelled budget (``version`` of :func:`from_job_params`); the ground truth
trains on the draws, so raising it reruns the ground truth too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts.task_table import TaskTable
from taskdist.seeds import stable_seed
from taskdist.specs import BudgetSpec, from_params

if TYPE_CHECKING:
    import pandas as pd

VERSION = 4
"""Version of the labelled budget's draw; raised whenever which examples a budget holds changes.

Until ground-truth version 4 the draw carried :data:`taskdist.evaluation.transfer.VERSION`; it has its own
since, numbered on from there, so that a change of how the ground truth trains reruns only the ground truth."""


def replicate_seed(seed: int, replicate: int) -> int:
    """Seed of one replicate: its labelled budget, and in transfer its head initialisation and batch order."""
    return stable_seed(seed, "replicate", replicate)


def _per_label(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted positions of at most ``per_class`` examples of each label, chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def draw(table: TaskTable | pd.DataFrame, spec: BudgetSpec, replicate: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a task ``table`` (positions) in one replicate's labelled budget: training examples and held-out
    examples.

    ``spec.samples_per_class`` per label from the train split and
    ``spec.holdout_per_class`` per label from the val split, drawn with
    :func:`replicate_seed` ``(spec.seed, replicate)``.

    Raises
    ------
    TypeError
        If ``spec`` is not a :class:`~taskdist.specs.BudgetSpec`.
    ValueError
        If a label has fewer examples in a split than the budget asks for.
    """
    if not isinstance(spec, BudgetSpec):
        raise TypeError(f"spec must be a BudgetSpec, got {type(spec).__name__}")
    table = TaskTable.of(table)
    rep = replicate_seed(spec.seed, replicate)
    picked = []
    for split, per_class in (("train", spec.samples_per_class), ("val", spec.holdout_per_class)):
        rows = np.flatnonzero(table.split == split)
        labels = table.label[rows]
        counts = np.bincount(labels, minlength=int(table.label.max()) + 1)
        if counts.min() < per_class:
            raise ValueError(
                f"the labelled budget needs {per_class} {split} examples per label; the task has {counts.tolist()}"
            )
        picked.append(rows[_per_label(labels, per_class, stable_seed(rep, split))])
    return picked[0], picked[1]


def method_examples(table: TaskTable | pd.DataFrame, spec: BudgetSpec | None) -> TaskTable | pd.DataFrame:
    """The examples of a target that a distance or score reads: all of ``table``, or its labelled budget.

    ``spec`` None: ``table`` itself (its train split is read: a network on its
    own task, or ``distances.target_examples: train``). Otherwise replicate 0's
    labelled budget (training and held-out examples) as a train split, the
    rows in ``table``'s order; with ``spec.method_samples``, that many of them,
    spread over the labels as evenly as they divide (:func:`even_subset`), so
    that every target is read with the same number of examples; as a
    :class:`~taskdist.artifacts.task_table.TaskTable`.

    Raises
    ------
    ValueError
        If the budget holds fewer examples than ``spec.method_samples``.
    """
    if spec is None:
        return table
    table = TaskTable.of(table)
    train_rows, held_rows = draw(table, spec, 0)
    rows = np.sort(np.concatenate([train_rows, held_rows]))
    if spec.method_samples is not None:
        rows = rows[even_subset(table.label[rows], spec.method_samples, stable_seed(spec.seed, "method samples"))]
    return table.take(rows, split="train")


def even_subset(labels: np.ndarray, total: int, seed: int) -> np.ndarray:
    """Sorted positions of ``total`` of ``labels``' examples, ``total // k`` of each of the ``k`` labels and one
    more for ``total % k`` of them (chosen with ``seed``).

    Raises
    ------
    ValueError
        If there are fewer than ``total`` examples, or a label has fewer than its share.
    """
    classes = np.unique(labels)
    if total > len(labels):
        raise ValueError(f"cannot read {total} examples of a labelled budget of {len(labels)}")
    rng = np.random.default_rng(seed)
    share = np.full(len(classes), total // len(classes))
    share[rng.permutation(len(classes))[: total % len(classes)]] += 1
    picked = []
    for c, k in zip(classes, share, strict=True):
        where = np.flatnonzero(labels == c)
        if len(where) < k:
            raise ValueError(f"label {c} has {len(where)} examples in the labelled budget; {k} are to be read")
        picked.append(rng.permutation(where)[:k])
    return np.sort(np.concatenate(picked))


def from_job_params(params: dict | None) -> BudgetSpec | None:
    """The labelled budget a job's params describe (``budget_params`` in rules/common.smk), or None.

    The params are a :class:`~taskdist.specs.BudgetSpec`'s fields plus
    ``version``, the draw's :data:`VERSION` (so that a change of it
    recomputes what reads the budget); the version selects nothing and is
    dropped here.

    Raises
    ------
    ValueError
        If the params lack ``version`` or hold keys a BudgetSpec does not have.
    """
    if params is None:
        return None
    fields = {k: v for k, v in params.items() if k != "version"}
    expected = set(BudgetSpec.__dataclass_fields__)
    if "version" not in params or set(fields) != expected:
        raise ValueError(f"labelled budget params must hold {sorted(expected | {'version'})}, got {sorted(params)}")
    return from_params(BudgetSpec, fields)
