"""JSON records: the result of one job about one pair or one task, naming what it is about.

Each kind of record has its names (what it is about) and the keys its
readers need (:data:`KINDS`):

- ``transfer``: ``results/transfer/{source}/{target}.json``; names source,
  target; key runs (:func:`taskdist.evaluation.transfer.run`);
- ``scratch``: ``results/transfer/_scratch/{target}.json``; name target; key runs;
- ``tanas``: ``results/tanas/{source}/{target}.json``; names source, target;
  key tanas;
- ``path``: ``results/paths/{method}/{source}/{target}.json``; names method,
  source, target; keys distance, path, coupling (:func:`taskdist.methods.coupled.distance`);
- ``bound``: ``results/bound/{source}/{target}.json``; names source, target;
  keys bound, setting, terms, test, linear_loss, trace (:func:`taskdist.methods.bound.transfer_bound`);
- ``search``: ``results/nas/base/{task}.json`` and
  ``results/nas/target/{task}/{search}.json``; names task, search, role
  (``base`` or ``target``); keys genotype, space, bases, ...
  (:func:`taskdist.stages.nas_search`);
- ``bases``: ``results/nas/target/{target}/bases.json``; name target; keys
  method, bases.

A record is a JSON object: its names and values at the top level, plus
``format`` (:data:`FORMAT`'s name), ``format_version`` and ``kind``.
:func:`read` checks all of them, so a file from another taskdist, of another
kind or about nothing is an :class:`~taskdist.artifacts.io.ArtifactError`;
:func:`read_all` keys many records by their names and refuses two records
about the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from taskdist.artifacts import io

FORMAT = io.Format("record", 1)
"""Format of every JSON record; raise its version when the layout changes."""

KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "transfer": (("source", "target"), ("runs",)),
    "scratch": (("target",), ("runs",)),
    "tanas": (("source", "target"), ("tanas",)),
    "path": (("method", "source", "target"), ("distance", "path", "coupling")),
    "bound": (("source", "target"), ("bound", "setting", "terms", "test", "linear_loss", "trace")),
    "search": (("task", "search", "role"), ("genotype", "space", "bases", "params", "test_accuracy")),
    "bases": (("target",), ("method", "bases")),
}
"""Per kind: its names, and the other keys a record of it must hold."""

_META = ("format", "format_version", "kind")


def _kind(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if kind not in KINDS:
        raise ValueError(f"record kind must be one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind]


def write(values: dict[str, Any], path: str | Path, kind: str, **names: str) -> None:
    """Write the record of ``kind`` about ``names`` (e.g. ``source=..., target=...``) with ``values``."""
    required, keys = _kind(kind)
    if set(names) != set(required):
        raise ValueError(f"a {kind} record is about {required}, got names {sorted(names)}")
    for key, value in names.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"record name {key} must be a non-empty string, got {value!r}")
    clash = sorted(set(values) & (set(names) | set(_META)))
    if clash:
        raise ValueError(f"the values of a {kind} record must not hold the keys {clash}")
    missing = [k for k in keys if k not in values]
    if missing:
        raise ValueError(f"a {kind} record needs the keys {missing}")
    meta = {"format": FORMAT.name, "format_version": FORMAT.version, "kind": kind}
    io.write_json({**meta, **names, **values}, path)


def read(path: str | Path, kind: str) -> dict[str, Any]:
    """The record at ``path``, which must be of ``kind``: its names and values (without the format keys)."""
    required, keys = _kind(kind)
    record = io.read_json(path)
    if not isinstance(record, dict):
        raise io.ArtifactError(f"record {path} is not a JSON object: {io.recompute_hint(path)}")
    found = None
    if isinstance(record.get("format"), str) and isinstance(record.get("format_version"), int):
        found = io.Format(record["format"], record["format_version"])
    io.check_format(path, found, FORMAT)
    if record.get("kind") != kind:
        raise io.ArtifactError(f"record {path} is a {record.get('kind')!r} record, expected {kind!r}: "
                               f"{io.recompute_hint(path)}")
    bad = [k for k in required if not isinstance(record.get(k), str) or not record[k]]
    missing = [k for k in keys if k not in record]
    if bad or missing:
        raise io.ArtifactError(f"{kind} record {path} lacks its names {bad} or keys {missing}: "
                               f"{io.recompute_hint(path)}")
    return {k: v for k, v in record.items() if k not in _META}


def names(record: dict[str, Any], kind: str) -> tuple[str, ...]:
    """What ``record`` (of ``kind``) is about: its names in the order of :data:`KINDS`."""
    return tuple(record[k] for k in _kind(kind)[0])


def read_all(paths: Iterable[str | Path], kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every record of ``paths`` (all of ``kind``) keyed by its names; two records about the same thing are an
    error."""
    def entries():
        for path in paths:
            record = read(path, kind)
            yield names(record, kind), path, record

    return io.by_name(entries(), f"{kind} record")
