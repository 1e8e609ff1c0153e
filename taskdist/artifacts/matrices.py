"""Task x task matrices, the ground-truth table and the per-target score tables: their one writer and reader each.

- A *matrix* is the long frame ``source, target, value`` (+ method-specific
  columns) of one method, format :data:`FORMAT`, names ``method`` and
  ``kind``: ``distances`` for ``results/distances/{method}.parquet`` (every
  ordered pair of distinct tasks, the diagonal where the method defines it)
  or ``floor`` for ``results/floors/{method}.parquet`` (the noise floor:
  each task against its resample).
- The *ground truth* ``results/transfer.parquet``
  (:func:`taskdist.evaluation.transfer.table`), format :data:`TRANSFER_FORMAT`.
- A *score table* ``results/scores/{target}.parquet``: every transferability
  score of every source for one target (:func:`taskdist.stages.target_scores`),
  format :data:`SCORES_FORMAT`, name ``target``.

Rows are written sorted, so an unchanged result is byte-identical; readers
check the format and the pairs (no pair twice, no missing pair).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from taskdist.artifacts import io
from taskdist.checks import square_frame

FORMAT = io.Format("matrix", 1)
COLUMNS = ("source", "target", "value")
KINDS = ("distances", "floor")

TRANSFER_FORMAT = io.Format("transfer", 1)
TRANSFER_COLUMNS = ("source", "target", "setting", "replicate", "accuracy", "gain")

SCORES_FORMAT = io.Format("scores", 2)  # 2: examples and features, what each score read
SCORES_COLUMNS = ("source", "target", "sample", "method", "value", "examples", "features")


def check(df: pd.DataFrame, kind: str, what: str = "matrix") -> None:
    """Raise ``ValueError`` unless ``df`` is a long matrix of ``kind``: no pair twice and, for ``distances``,
    every ordered pair of distinct tasks."""
    if kind not in KINDS:
        raise ValueError(f"matrix kind must be one of {KINDS}, got {kind!r}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; has {list(df.columns)}")
    repeated = df[df.duplicated(["source", "target"], keep=False)]
    if len(repeated):
        pairs = sorted(set(zip(repeated["source"], repeated["target"], strict=True)))
        raise ValueError(f"{what} holds these pairs more than once: {pairs}")
    if kind == "distances":
        tasks = sorted(set(df["source"]) | set(df["target"]))
        have = set(zip(df["source"], df["target"], strict=True))
        absent = [(a, b) for a in tasks for b in tasks if a != b and (a, b) not in have]
        if absent:
            raise ValueError(f"{what} lacks the pairs {absent} of its tasks {tasks}")


def write(df: pd.DataFrame, path: str | Path, *, method: str, kind: str = "distances") -> None:
    """Write the long matrix ``df`` of ``method`` (rows sorted by source and target)."""
    check(df, kind, f"the {kind} matrix of {method}")
    io.write_parquet(df, path, sort_by=["source", "target"], names={"method": method, "kind": kind}, format=FORMAT)


def read(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The long matrix at ``path`` and its names (``method``, ``kind``), checked."""
    df, names = io.read_parquet_names(path, COLUMNS, FORMAT)
    try:
        check(df, names.get("kind", ""), f"matrix {path}")
    except ValueError as e:
        raise io.ArtifactError(f"{e}: {io.recompute_hint(path)}") from e
    return df, names


def read_all(paths: Iterable[str | Path], kind: str = "distances") -> dict[str, pd.DataFrame]:
    """Every matrix of ``paths`` by the method it names; all must be of ``kind``, no method twice."""
    def entries():
        for path in paths:
            df, names = read(path)
            if names["kind"] != kind:
                raise io.ArtifactError(f"matrix {path} is a {names['kind']} matrix of {names['method']}, "
                                       f"expected a {kind} matrix")
            yield names["method"], path, df

    return io.by_name(entries(), f"{kind} matrix")


def read_method(path: str | Path, method: str, kind: str = "distances") -> pd.DataFrame:
    """The matrix at ``path``, which must be the ``kind`` matrix of ``method``."""
    df, names = read(path)
    if (names["method"], names["kind"]) != (method, kind):
        raise io.ArtifactError(f"matrix {path} is the {names['kind']} matrix of {names['method']}, "
                               f"expected the {kind} matrix of {method}")
    return df


def to_square(df: pd.DataFrame, value: str = "value", order: list[str] | None = None) -> pd.DataFrame:
    """Long ``source, target, value`` -> square frame (rows = source, columns = target), checked by
    :func:`taskdist.checks.square_frame` (``order`` must not repeat a task)."""
    square = df.pivot(index="source", columns="target", values=value)
    order = order or sorted(set(square.index) | set(square.columns))
    return square_frame(square.reindex(index=order, columns=order), f"the {value!r} matrix")


def write_transfer(df: pd.DataFrame, path: str | Path) -> None:
    """Write the ground-truth table (one row per pair, setting and replicate)."""
    io.write_parquet(df, path, format=TRANSFER_FORMAT)


def read_transfer(path: str | Path) -> pd.DataFrame:
    """The ground-truth table ``results/transfer.parquet``: one row per pair, setting and replicate."""
    return io.read_parquet(path, TRANSFER_COLUMNS, TRANSFER_FORMAT)


def write_scores(df: pd.DataFrame, path: str | Path, *, target: str) -> None:
    """Write one target's score table: ``source, sample, method, value, examples, features`` (how many labelled
    examples the score read, and the dimension of the source's features) with its ``target`` column and name."""
    df = df.assign(target=target)
    io.write_parquet(df, path, sort_by=["source", "sample", "method"], names={"target": target},
                     format=SCORES_FORMAT)


def read_scores(path: str | Path) -> tuple[pd.DataFrame, str]:
    """A score table and the target it names; every row must be about that target."""
    df, names = io.read_parquet_names(path, SCORES_COLUMNS, SCORES_FORMAT)
    target = names.get("target")
    if target is None or set(df["target"]) - {target}:
        raise io.ArtifactError(f"score table {path} names target {target!r} but holds rows of "
                               f"{sorted(set(df['target']))}: {io.recompute_hint(path)}")
    return df, target
