"""The task table ``results/tasks/{task}.parquet``: its one writer and reader.

A task table (:func:`taskdist.data.tasks.materialize`) has one row per example: ``index`` (the image's
:attr:`~taskdist.artifacts.dataset.Dataset.ids`), ``label`` (the task's label) and ``split`` (``train``,
``val`` or ``test``), rows sorted by ``index``. The file declares :data:`FORMAT` and the name ``task`` (the
task's id); :func:`read` checks both and turns a missing, truncated, foreign or outdated file into an
:class:`~taskdist.artifacts.io.ArtifactError`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from taskdist.artifacts import io

FORMAT = io.Format("task_table", 1)
"""Format of a task table; raise its version when the layout changes (and the task stage's VERSION)."""
COLUMNS = ("index", "label", "split")


def write(table: pd.DataFrame, path: str | Path, *, task: str) -> None:
    """Write the table of the task ``task`` (rows sorted by ``index``)."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"the table of task {task!r} lacks column(s) {missing}; has {list(table.columns)}")
    io.write_parquet(table, path, sort_by=["index"], names={"task": task}, format=FORMAT)


def read_named(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The task table at ``path`` and its names (``task``), checked."""
    df, names = io.read_parquet_names(path, COLUMNS, FORMAT)
    if "task" not in names:
        raise io.ArtifactError(f"task table {path} does not name its task: {io.recompute_hint(path)}")
    return df, names


def read(path: str | Path, task: str | None = None) -> pd.DataFrame:
    """The task table at ``path``; with ``task``, it must be that task's."""
    df, names = read_named(path)
    if task is not None and names["task"] != task:
        raise io.ArtifactError(
            f"task table {path} is the table of task {names['task']!r}, expected {task!r}: {io.recompute_hint(path)}"
        )
    return df
