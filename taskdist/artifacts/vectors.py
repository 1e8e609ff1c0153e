"""Per-layer vectors: a network's Fisher diagonal on a task's data, or a task's Task2Vec embedding.

Both are a map ``{layer: values}`` of non-negative numbers: one per filter
(a 1-D array, ``(filters,)``) or one per parameter entry, grouped by filter
(a 2-D array, ``(filters, entries per filter)``). Layers are always taken in
sorted order, so :func:`flat` (the one vector the distances compare) depends
on the values only.

The artifact is a long table ``layer, filter, [param,] value`` (rows sorted
by layer, filter and param) in Parquet, format :data:`FORMAT`, whose names
say what it is about:

- ``results/fisher/{net}/{data}.parquet``: names ``net`` and ``data``
  (the body's diagonal Fisher of ``N_net`` on task ``data``,
  :func:`taskdist.stages.pair_fisher`);
- ``results/task2vec/{task}.parquet``: name ``task`` (its embedding,
  :func:`taskdist.methods.task2vec.embed`; ``_trivial`` for the trivial embedding).

:func:`write` and :func:`read` are the only writer and reader; :func:`read`
validates the table (every layer's filters and entries ``0..n-1`` exactly
once, values finite and non-negative), so row order never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taskdist.artifacts import io

if TYPE_CHECKING:  # the Fisher and Task2Vec jobs write their vectors without importing pandas
    import pandas as pd

FORMAT = io.Format("vectors", 1)
"""Format of the per-layer vector table; raise its version when the layout changes."""

COLUMNS = ("layer", "filter", "value")

Vectors = dict[str, np.ndarray]


def _array(values: object) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def check(vectors: object, what: str = "vectors") -> None:
    """Raise ``ValueError`` unless ``vectors`` is a non-empty ``{layer: array}`` of finite non-negative numbers.

    Every array must be non-empty and 1-D (per filter) or 2-D (filters x
    entries), all of the same number of dimensions.
    """
    if not isinstance(vectors, Mapping) or not vectors:
        raise ValueError(f"{what} must be a non-empty mapping of layer name to per-filter values")
    dims = set()
    for layer, values in vectors.items():
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"{what}: layer names must be non-empty strings, got {layer!r}")
        arr = _array(values)
        if arr.ndim not in (1, 2) or arr.size == 0:
            raise ValueError(f"{what}[{layer!r}] must be a non-empty 1-D or 2-D array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{what}[{layer!r}] must be finite and non-negative")
        dims.add(arr.ndim)
    if len(dims) > 1:
        raise ValueError(f"{what}: layers mix per-filter (1-D) and per-entry (2-D) values")


def flat(vectors: Mapping[str, object]) -> np.ndarray:
    """All values as one float64 vector: layers in sorted order, each raveled (filter-major).

    Also takes a Fisher diagonal as :func:`taskdist.methods.fisher.fisher_diagonal` returns it
    (``{parameter name: tensor of the parameter's shape}``).
    """
    if not isinstance(vectors, Mapping) or not vectors:
        raise ValueError("vectors must be a non-empty mapping of layer name to values")
    out = np.concatenate([_array(vectors[k]).astype(np.float64).ravel() for k in sorted(vectors)])
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError("vectors must be finite and non-negative")
    return out


def layout(vectors: Mapping[str, object]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Layer names and shapes, in sorted order: two vectors are comparable when their layouts agree."""
    return tuple((k, _array(vectors[k]).shape) for k in sorted(vectors))


def _columns(vectors: Mapping[str, object]) -> dict[str, np.ndarray]:
    """The columns of :func:`table`: ``layer`` (str objects), ``filter`` and ``param`` (int32), ``value``."""
    check(vectors)
    layers = sorted(vectors)
    grids = [_array(vectors[layer]).astype(np.float64) for layer in layers]
    grids = [values.reshape(values.shape[0], -1) for values in grids]  # (filters, entries per filter)
    indices = [np.indices(grid.shape) for grid in grids]  # (2, filters, entries)
    columns = {
        "layer": np.repeat(np.array(layers, dtype=object), [grid.size for grid in grids]),
        "filter": np.concatenate([filt.ravel() for filt, _ in indices]).astype(np.int32),
    }
    if _array(vectors[layers[0]]).ndim == 2:  # every layer's (check)
        columns["param"] = np.concatenate([param.ravel() for _, param in indices]).astype(np.int32)
    columns["value"] = np.concatenate([grid.ravel() for grid in grids])
    return columns


def table(vectors: Mapping[str, object]) -> pd.DataFrame:
    """``vectors`` as the long frame ``layer, filter, [param,] value`` sorted by layer, filter and param."""
    import pandas as pd

    return pd.DataFrame(_columns(vectors))


def from_table(df: pd.DataFrame, what: str = "vector table") -> Vectors:
    """Inverse of :func:`table`, whatever the row order: ``{layer: values}``, layers in sorted order.

    Raises
    ------
    ValueError
        If a column is missing, the table is empty, a layer's filters (and
        entries) are not exactly ``0..n-1`` once each, or a value is negative
        or not finite.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; has {list(df.columns)}")
    if len(df) == 0:
        raise ValueError(f"{what} is empty")
    per_entry = "param" in df.columns
    keys = ["filter", "param"] if per_entry else ["filter"]
    out: Vectors = {}
    for layer, group in df.groupby("layer", sort=True):
        group = group.sort_values(keys, kind="stable")
        filters = group["filter"].to_numpy()
        n_filters = int(filters.max()) + 1 if len(filters) else 0
        n_entries = len(group) // max(n_filters, 1) if per_entry else 1
        expected = np.repeat(np.arange(n_filters), n_entries)
        ok = n_filters * n_entries == len(group) and np.array_equal(filters, expected)
        if ok and per_entry:
            ok = np.array_equal(group["param"].to_numpy(), np.tile(np.arange(n_entries), n_filters))
        if not ok:
            grid = "filters 0..n-1 and entries 0..m-1" if per_entry else f"filters 0..{len(filters) - 1}"
            raise ValueError(f"layer {layer!r} of the {what} must have {grid} once each")
        values = group["value"].to_numpy(dtype=np.float64)
        out[str(layer)] = values.reshape(n_filters, n_entries) if per_entry else values
    check(out, what)
    return out


def write(vectors: Mapping[str, object], path: str | Path, **names: str) -> None:
    """Write ``vectors`` to ``path``, with the names that say what they are (``net``, ``data`` or ``task``)."""
    if not names:
        raise ValueError("a vector table must say what it is about: pass its names (net and data, or task)")
    io.write_columns(_columns(vectors), path, names=names, format=FORMAT)


def read(path: str | Path) -> tuple[Vectors, dict[str, str]]:
    """The vectors at ``path`` and their names; a foreign, outdated or malformed file is an ``ArtifactError``."""
    df, names = io.read_parquet_names(path, COLUMNS, FORMAT)
    try:
        return from_table(df, f"vector table {path}"), names
    except ValueError as e:
        raise io.ArtifactError(f"{e}: {io.recompute_hint(path)}") from e


def read_all(paths: Iterable[str | Path], keys: tuple[str, ...]) -> dict[tuple[str, ...], Vectors]:
    """Read every table of ``paths``, keyed by its names ``keys`` (e.g. ``("net", "data")``).

    Raises
    ------
    taskdist.artifacts.io.ArtifactError
        If a file lacks one of ``keys`` or two files carry the same names.
    """
    def entries():
        for path in paths:
            values, names = read(path)
            missing = [k for k in keys if k not in names]
            if missing:
                raise io.ArtifactError(f"vector table {path} names {names}, not {missing}: {io.recompute_hint(path)}")
            yield tuple(names[k] for k in keys), path, values

    return io.by_name(entries(), "vector table")
