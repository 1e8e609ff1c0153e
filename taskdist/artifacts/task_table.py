"""The task table ``results/tasks/{task}.parquet``: its one writer and reader.

A task table (:func:`taskdist.data.tasks.materialize`) has one row per example: ``index`` (the image's
:attr:`~taskdist.artifacts.dataset.Dataset.ids`), ``label`` (the task's label) and ``split`` (``train``,
``val`` or ``test``), rows sorted by ``index``. The file declares :data:`FORMAT` and the name ``task`` (the
task's id); :func:`read` checks both and turns a missing, truncated, foreign or outdated file into an
:class:`~taskdist.artifacts.io.ArtifactError`.

A table is read as a :class:`TaskTable` (its columns as numpy arrays), without pandas: every torch job reads
one, and importing pandas would add about a sixth to the job's fixed cost (``benchmarks/job_startup.py
--kinds``). :meth:`TaskTable.to_frame` gives the ``pandas.DataFrame``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts import io

if TYPE_CHECKING:
    import pandas as pd

FORMAT = io.Format("task_table", 1)
"""Format of a task table; raise its version when the layout changes (and the task stage's VERSION)."""
COLUMNS = ("index", "label", "split")


@dataclass(frozen=True, eq=False)
class TaskTable:
    """A task's examples, one entry per example: ``index`` (int64 image ids), ``label`` (int64), ``split``
    (``"train"``, ``"val"`` or ``"test"``), rows in the file's order.

    A column can also be read by name, as from a ``pandas.DataFrame`` (``table["label"]``, here a numpy array).
    The functions that take a task table (:func:`taskdist.data.tasks.arrays`, :func:`taskdist.data.budget.draw`,
    :func:`~taskdist.data.budget.method_examples`) take a DataFrame too (:meth:`of`), and draw the same rows.
    """

    index: np.ndarray
    label: np.ndarray
    split: np.ndarray

    def __post_init__(self):
        if not len(self.index) == len(self.label) == len(self.split):
            raise ValueError(f"a task table's columns must be equally long; got index {len(self.index)}, "
                             f"label {len(self.label)} and split {len(self.split)}")

    @classmethod
    def of(cls, table: TaskTable | pd.DataFrame) -> TaskTable:
        """``table`` itself, or a DataFrame's columns ``index, label, split`` (int64, int64, str objects)."""
        if isinstance(table, TaskTable):
            return table
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"a task table needs the columns {list(COLUMNS)}; lacks {missing}")
        return cls(table["index"].to_numpy(dtype=np.int64), table["label"].to_numpy(dtype=np.int64),
                   table["split"].to_numpy(dtype=object))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in COLUMNS:
            raise KeyError(f"a task table has the columns {list(COLUMNS)}, not {column!r}")
        return getattr(self, column)

    def take(self, rows: np.ndarray, split: str | None = None) -> TaskTable:
        """The examples at positions ``rows``, in that order; with ``split``, all of them in that split."""
        splits = self.split[rows] if split is None else np.full(len(rows), split, dtype=object)
        return TaskTable(self.index[rows], self.label[rows], splits)

    def to_frame(self) -> pd.DataFrame:
        """The table as a ``pandas.DataFrame`` with the columns ``index, label, split``."""
        import pandas as pd

        return pd.DataFrame({"index": self.index, "label": self.label, "split": self.split})


def write(table: TaskTable | pd.DataFrame, path: str | Path, *, task: str) -> None:
    """Write the table of the task ``task`` (rows sorted by ``index``)."""
    if isinstance(table, TaskTable):
        table = table.to_frame()
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the table of task {task!r} lacks column(s) {missing}; has {list(table.columns)}")
    io.write_parquet(table, path, sort_by=["index"], names={"task": task}, format=FORMAT)


def read_named(path: str | Path) -> tuple[TaskTable, dict[str, str]]:
    """The task table at ``path`` and its names (``task``), checked."""
    columns, names = io.read_parquet_columns(path, COLUMNS, FORMAT)
    if "task" not in names:
        raise io.ArtifactError(f"task table {path} does not name its task: {io.recompute_hint(path)}")
    try:
        table = TaskTable(columns["index"].astype(np.int64, copy=False), columns["label"].astype(np.int64, copy=False),
                          columns["split"].astype(object, copy=False))
    except (TypeError, ValueError) as e:
        raise io.ArtifactError(f"task table {path} has malformed columns ({e}): {io.recompute_hint(path)}") from e
    return table, names


def read(path: str | Path, task: str | None = None) -> TaskTable:
    """The task table at ``path``; with ``task``, it must be that task's."""
    table, names = read_named(path)
    if task is not None and names["task"] != task:
        raise io.ArtifactError(
            f"task table {path} is the table of task {names['task']!r}, expected {task!r}: {io.recompute_hint(path)}"
        )
    return table
