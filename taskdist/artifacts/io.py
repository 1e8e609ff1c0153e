"""The mechanics of artifacts: atomic, deterministic writes, named files, clear errors.

This module knows how to write and read a file safely; what a file holds is
owned elsewhere, one module per format (the architecture in the README):
:mod:`taskdist.artifacts.dataset` (a dataset's canonical images, npz),
:mod:`taskdist.artifacts.task_table` (a task's examples and splits),
:mod:`taskdist.artifacts.checkpoint` (networks), :mod:`taskdist.artifacts.vectors` (per-layer
Fisher diagonals and Task2Vec embeddings), :mod:`taskdist.artifacts.matrices` (long
task x task matrices, the ground-truth and score tables) and
:mod:`taskdist.artifacts.records` (the JSON result of one pair or one search).

Writers go through a temporary file in the target directory and
:func:`os.replace`, so a killed job never leaves a half-written artifact under
the final name. Parquet is written with rows in a fixed order and no
timestamps, so an unchanged result is byte-identical. A Parquet artifact of a
format module carries, in its schema's key-value metadata, its
:class:`Format` (name and version) and its *names*: what it is about, e.g.
``{"net": "a", "data": "b"}`` for a Fisher table; :func:`read_names` reads
them without reading the rows. An npz artifact carries the same, as JSON, in
its entry ``format`` (:data:`NPZ_FORMAT_ENTRY`). Readers turn a missing, truncated, foreign or
outdated file into an :class:`ArtifactError` that names the file and says how
to recompute it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas is imported where a frame is made: a torch job that reads only columns never pays for it
    import pandas as pd

METADATA_KEY = b"taskdist"
"""Key of the schema metadata entry holding ``{"format", "version", "names"}`` as JSON."""
NPZ_FORMAT_ENTRY = "format"
"""Name of the npz entry holding ``{"format", "version", "names"}`` as JSON (a 0-d string array)."""

V = TypeVar("V")


class ArtifactError(RuntimeError):
    """An artifact could not be read; the message names it and the fix."""


@dataclass(frozen=True)
class Format:
    """A file format owned by one module: its name and the version of its layout.

    The version is stored in every file and checked by the reader; raise it
    when the layout changes (and raise the ``VERSION`` of the stages writing
    it, so that the workflow rewrites their files).
    """

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


def recompute_hint(path: str | Path) -> str:
    """How to get a good copy of the artifact at ``path``."""
    return f"delete it and rerun snakemake to recompute it (or `snakemake --forcerun {path}`)"


def check_format(path: str | Path, found: Format | None, expected: Format) -> None:
    """Raise :class:`ArtifactError` unless the file at ``path`` declares the format ``expected``."""
    if found == expected:
        return
    if found is not None and found.name != expected.name:  # a sound file of another kind: nothing to delete
        raise ArtifactError(f"artifact {path} is a {found} file; expected a {expected} file: pass a file of that "
                            f"kind (if a workflow job wrote this path, `snakemake --forcerun {path}` rewrites it)")
    what = "declares no taskdist format (written by an older taskdist, or not by taskdist)" if found is None \
        else f"is a {found} file"
    raise ArtifactError(f"artifact {path} {what}; expected a {expected} file: {recompute_hint(path)}")


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in ``path``'s directory; move it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets what open() would give
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_with(path: str | Path, what: str, reader: Callable[[Path], Any]) -> Any:
    """``reader(path)``; a missing file, or any failure of ``reader``, is an :class:`ArtifactError` naming the
    file (as ``what``) and saying how to recompute it. For format modules whose file is not Parquet or JSON."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{what} {path} does not exist; run snakemake to compute it")
    try:
        return reader(path)
    except Exception as e:  # noqa: BLE001 - every reader failure means the same to the user
        raise ArtifactError(
            f"{what} {path} is unreadable ({type(e).__name__}: {e}); it is truncated or not a "
            f"taskdist artifact: {recompute_hint(path)}"
        ) from e


# ------------------------------------------------------------------------------------------------ Parquet


def _check_names(names: dict[str, str] | None) -> dict[str, str]:
    names = dict(names or {})
    for key, value in names.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or not value:
            raise ValueError(f"artifact names must be non-empty strings, got {key!r}: {value!r}")
    return dict(sorted(names.items()))


def _entry(format: Format, names: dict[str, str] | None) -> str:
    """The JSON declaring ``format`` and ``names``, as stored in a file."""
    entry = {"format": format.name, "version": format.version, "names": _check_names(names)}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def _parse_entry(raw: str | bytes) -> tuple[Format, dict[str, str]]:
    entry = json.loads(raw)
    return Format(entry["format"], entry["version"]), dict(entry["names"])


def write_parquet(
    df: pd.DataFrame,
    path: str | Path,
    sort_by: list[str] | None = None,
    names: dict[str, str] | None = None,
    format: Format | None = None,
) -> None:
    """Write ``df`` (rows sorted by ``sort_by``, index dropped) atomically and deterministically.

    ``format`` and ``names`` (what the file is about, e.g. ``{"method": "ftd"}``)
    go into the schema's key-value metadata, beside pandas' own (no timestamps:
    the file depends on the values only).
    """
    if sort_by:
        df = df.sort_values(sort_by, kind="stable")
    _write_table(pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False), path, names, format)


def write_columns(
    columns: dict[str, np.ndarray], path: str | Path, names: dict[str, str] | None = None,
    format: Format | None = None,
) -> None:
    """Write equally long numpy ``columns`` (numbers, or strings as objects; in their order, rows as given) as
    :func:`write_parquet` writes a frame, without importing pandas (a torch job's output: see
    :func:`read_parquet_columns`). Read back as a frame, the file gives what :func:`write_parquet` of
    ``pandas.DataFrame(columns)`` gives."""
    arrays = [_arrow(np.asarray(values)) for values in columns.values()]
    _write_table(pa.Table.from_arrays(arrays, names=list(columns)), path, names, format)


def _arrow(values: np.ndarray) -> pa.Array:
    """A 1-D numpy column as an Arrow array, built from buffers: pyarrow's conversions (``pa.array``,
    ``pa.table``) import pandas. Strings (an object column) become a dictionary of their distinct values cast to
    plain strings, the type pandas' writer stores."""
    if values.ndim != 1:
        raise ValueError(f"a column must be 1-D, got shape {values.shape}")
    if values.dtype == object:
        if not all(isinstance(v, str) for v in values):
            raise TypeError("an object column must hold strings only")
        distinct, codes = np.unique(values, return_inverse=True)
        encoded = [str(v).encode() for v in distinct]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int32)
        dictionary = pa.Array.from_buffers(pa.string(), len(encoded),
                                           [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
        indices = _arrow(codes.astype(np.int32))
        return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())
    if values.dtype.kind not in "iuf":  # Arrow packs booleans in bits: not a numpy buffer
        raise TypeError(f"a column must hold numbers or strings, got dtype {values.dtype}")
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _write_table(table: pa.Table, path: str | Path, names: dict[str, str] | None, format: Format | None) -> None:
    if format is not None or names:
        if format is None:
            raise ValueError("names describe a file of a format: pass the format too")
        metadata = {METADATA_KEY: _entry(format, names).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _metadata(schema: pa.Schema) -> tuple[Format | None, dict[str, str]]:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None, {}
    return _parse_entry(raw)


def read_names(path: str | Path, format: Format | None = None) -> dict[str, str]:
    """What the Parquet artifact at ``path`` is about (its names), read from the schema alone.

    With ``format``, the file must declare it (:func:`check_format`).
    """
    found, names = read_with(path, "Parquet artifact", lambda p: _metadata(pq.read_schema(p)))
    if format is not None:
        check_format(path, found, format)
    return names


def _read_arrow(path: Path) -> pa.Table:
    """The Arrow table of one Parquet file. ``pq.read_table`` would go through pyarrow's dataset layer, which
    imports pandas (see :func:`read_parquet_columns`)."""
    with pq.ParquetFile(path) as f:
        return f.read()


def _read_table(path: str | Path, columns: tuple[str, ...], format: Format | None) -> tuple[pa.Table, dict[str, str]]:
    """The Arrow table of a Parquet artifact and its names; its ``columns`` and, with ``format``, its format
    checked."""
    table = read_with(path, "Parquet artifact", _read_arrow)
    found, names = _metadata(table.schema)
    if format is not None:
        check_format(path, found, format)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ArtifactError(
            f"Parquet artifact {path} lacks columns {missing} (has {table.column_names}); "
            f"it was not written by this taskdist: {recompute_hint(path)}"
        )
    return table, names


def read_parquet_names(
    path: str | Path, columns: tuple[str, ...] = (), format: Format | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a Parquet artifact and its names; check its ``columns`` and, with ``format``, its format."""
    table, names = _read_table(path, columns, format)
    return table.to_pandas(), names


def read_parquet_columns(
    path: str | Path, columns: tuple[str, ...], format: Format | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Only ``columns`` of a Parquet artifact, as numpy arrays (strings as objects), and its names; checked as
    :func:`read_parquet_names` checks. Reads without pandas, whose import costs a job that needs no frame about
    0.25-0.4 CPU-s (``benchmarks/job_startup.py --kinds``)."""
    table, names = _read_table(path, columns, format)
    try:
        return {c: _numpy(table.column(c).combine_chunks()) for c in columns}, names
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"Parquet artifact {path}: {e}; it was not written by this taskdist: "
                            f"{recompute_hint(path)}") from e


def _numpy(values: pa.Array) -> np.ndarray:
    """An Arrow array of numbers or strings, without nulls, as numpy: numbers copied from their buffer, strings as
    objects through a dictionary of their distinct values. pyarrow's own conversions (``to_numpy``) import
    pandas."""
    if values.null_count:
        raise ValueError(f"a column holds {values.null_count} missing values")
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        encoded = values.dictionary_encode()
        return np.array(encoded.dictionary.to_pylist(), dtype=object)[_numpy(encoded.indices)]
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise TypeError(f"a column of type {values.type} is neither numbers nor strings")
    dtype = np.dtype(values.type.to_pandas_dtype())
    if len(values) == 0:
        return np.empty(0, dtype)
    return np.frombuffer(values.buffers()[1], dtype=dtype, count=values.offset + len(values))[values.offset:].copy()


def read_parquet(path: str | Path, columns: tuple[str, ...] = (), format: Format | None = None) -> pd.DataFrame:
    """Read a Parquet artifact and check that it has ``columns`` (and, with ``format``, that format)."""
    return read_parquet_names(path, columns, format)[0]


# ------------------------------------------------------------------------------------------------ npz


def write_npz(arrays: dict[str, np.ndarray], path: str | Path, format: Format, names: dict[str, str] | None = None,
              ) -> None:
    """Write ``arrays`` as an uncompressed npz archive, atomically, with ``format`` and ``names`` in its entry
    :data:`NPZ_FORMAT_ENTRY`."""
    if NPZ_FORMAT_ENTRY in arrays:
        raise ValueError(f"the npz entry {NPZ_FORMAT_ENTRY!r} holds the file's format; name the array otherwise")
    entry = np.array(_entry(format, names))  # 0-d unicode: read back without pickle
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays, **{NPZ_FORMAT_ENTRY: entry})


def _load_npz(path: Path) -> tuple[Format | None, dict[str, str], dict[str, np.ndarray]]:
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError("not an npz archive")
    with npz:
        arrays = {key: npz[key] for key in npz.files}  # every array read now: a truncated one fails here
    raw = arrays.pop(NPZ_FORMAT_ENTRY, None)
    found, names = (None, {}) if raw is None else _parse_entry(str(raw))
    return found, names, arrays


def read_npz(
    path: str | Path, keys: tuple[str, ...], format: Format, what: str = "npz artifact"
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays of the npz artifact at ``path`` and its names; it must declare ``format`` and hold ``keys``.

    A missing, truncated, foreign or outdated file is an :class:`ArtifactError` naming it (as ``what``)
    and saying how to recompute it.
    """
    found, names, arrays = read_with(path, what, _load_npz)
    check_format(path, found, format)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ArtifactError(
            f"{what} {path} lacks the entries {missing} (has {sorted(arrays)}); it was not written by this "
            f"taskdist: {recompute_hint(path)}"
        )
    return arrays, names


# ------------------------------------------------------------------------------------------------ JSON


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return read_with(path, "JSON artifact", lambda p: json.loads(p.read_text()))


# ------------------------------------------------------------------------------------------------ sets of files


def by_name(entries: Iterable[tuple[Hashable, str | Path, V]], what: str) -> dict[Hashable, V]:
    """``{name: value}`` from ``(name, path, value)`` triples; a name given by two files is an error.

    Aggregates identify each input by the names inside it, never by its
    position in a list: a repeated name means two files claim the same thing.
    """
    out: dict[Hashable, V] = {}
    paths: dict[Hashable, str | Path] = {}
    for name, path, value in entries:
        if name in paths:
            raise ArtifactError(f"two {what} files are about {name!r}: {paths[name]} and {path}")
        out[name], paths[name] = value, path
    return out


def require(found: Iterable[Hashable], expected: Iterable[Hashable], what: str) -> None:
    """Raise :class:`ArtifactError` unless ``found`` is exactly ``expected``: naming what is missing or extra."""
    found, expected = set(found), set(expected)
    missing, extra = sorted(expected - found, key=str), sorted(found - expected, key=str)
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise ArtifactError(f"the {what} files do not cover the expected set: {'; '.join(parts)}")
