"""Reading and writing artifacts: atomic, deterministic, with clear errors.

Writers go through a temporary file in the target directory and
:func:`os.replace`, so a killed job never leaves a half-written artifact under
the final name. Parquet is written with rows in a fixed order and no
timestamps, so an unchanged result is byte-identical. Readers turn a missing,
truncated or foreign file into an :class:`ArtifactError` that names the file
and says how to recompute it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MATRIX_COLUMNS = ("source", "target", "value")


class ArtifactError(RuntimeError):
    """An artifact could not be read; the message names it and the fix."""


def _recompute_hint(path: Path) -> str:
    return f"delete it and rerun snakemake to recompute it (or `snakemake --forcerun {path}`)"


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in ``path``'s directory; move it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: str | Path, what: str, reader: Callable[[Path], Any]) -> Any:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{what} {path} does not exist; run snakemake to compute it")
    try:
        return reader(path)
    except Exception as e:  # noqa: BLE001 - every reader failure means the same to the user
        raise ArtifactError(
            f"{what} {path} is unreadable ({type(e).__name__}: {e}); it is truncated or not a "
            f"taskdist artifact: {_recompute_hint(path)}"
        ) from e


def write_parquet(df: pd.DataFrame, path: str | Path, sort_by: list[str] | None = None) -> None:
    """Write ``df`` (rows sorted by ``sort_by``, index dropped) atomically and deterministically."""
    if sort_by:
        df = df.sort_values(sort_by, kind="stable")
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path: str | Path, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a Parquet artifact and check that it has ``columns``."""
    df = _read(path, "Parquet artifact", lambda p: pq.read_table(p).to_pandas())
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ArtifactError(
            f"Parquet artifact {path} lacks columns {missing} (has {list(df.columns)}); "
            f"it was not written by this taskdist: {_recompute_hint(Path(path))}"
        )
    return df


def write_matrix(df: pd.DataFrame, path: str | Path) -> None:
    """Write a long-format task x task matrix (``source, target, value`` + extras)."""
    write_parquet(df, path, sort_by=["source", "target"])


def read_matrix(path: str | Path) -> pd.DataFrame:
    return read_parquet(path, MATRIX_COLUMNS)


TRANSFER_COLUMNS = ("source", "target", "setting", "replicate", "accuracy", "gain")


def read_transfer(path: str | Path) -> pd.DataFrame:
    """The ground-truth table ``results/transfer.parquet``: one row per pair, setting and replicate."""
    return read_parquet(path, TRANSFER_COLUMNS)


def to_square(df: pd.DataFrame, value: str = "value", order: list[str] | None = None) -> pd.DataFrame:
    """Long ``source, target, value`` -> square frame (rows = source, columns = target)."""
    square = df.pivot(index="source", columns="target", values=value)
    order = order or sorted(set(square.index) | set(square.columns))
    return square.reindex(index=order, columns=order)


def save_checkpoint(obj: dict, path: str | Path) -> None:
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # a file object: saved by path, torch records the (random) temporary name


def load_checkpoint(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """Load a ``.pt`` checkpoint onto the CPU and check that it holds ``keys``."""
    import torch

    obj = _read(path, "checkpoint", lambda p: torch.load(p, map_location="cpu", weights_only=True))
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise ArtifactError(
            f"checkpoint {path} lacks {missing}; it was not written by this taskdist: {_recompute_hint(Path(path))}"
        )
    return obj


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return _read(path, "JSON artifact", lambda p: json.loads(p.read_text()))
