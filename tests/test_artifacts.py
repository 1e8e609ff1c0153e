"""The artifact formats: each module's writer and validating reader, the names and format version in every file."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from taskdist.artifacts import dataset, io, matrices, records, task_table, vectors
from taskdist.artifacts.dataset import Dataset


def _matrix():
    return pd.DataFrame({"source": ["b", "a", "a", "b"], "target": ["a", "b", "a", "b"], "value": [0.3, 0.2, 0, 0]})


# ------------------------------------------------------------------------------------------------ io: names, formats


def test_names_and_format_live_in_the_schema_and_are_read_without_the_rows(tmp_path):
    path = tmp_path / "t.parquet"
    fmt = io.Format("thing", 3)
    io.write_parquet(pd.DataFrame({"x": [2, 1]}), path, sort_by=["x"], names={"net": "a", "data": "b"}, format=fmt)
    assert io.read_names(path) == {"data": "b", "net": "a"} == io.read_names(path, fmt)
    df, names = io.read_parquet_names(path, ("x",), fmt)
    assert df["x"].tolist() == [1, 2] and names == {"data": "b", "net": "a"}
    with pytest.raises(io.ArtifactError, match=r"is a thing v3 file; expected a thing v4 file.*rerun snakemake"):
        io.read_names(path, io.Format("thing", 4))
    io.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "old.parquet")  # no format: written before formats
    with pytest.raises(io.ArtifactError, match=r"old.parquet declares no taskdist format"):
        io.read_parquet(tmp_path / "old.parquet", format=fmt)
    with pytest.raises(ValueError, match="pass the format too"):
        io.write_parquet(pd.DataFrame({"x": [1]}), path, names={"net": "a"})
    with pytest.raises(ValueError, match="non-empty strings"):
        io.write_parquet(pd.DataFrame({"x": [1]}), path, names={"net": ""}, format=fmt)


def test_same_values_same_bytes_whatever_the_row_order(tmp_path):
    matrices.write(_matrix(), tmp_path / "m1.parquet", method="ftd")
    matrices.write(_matrix().sample(frac=1, random_state=1), tmp_path / "m2.parquet", method="ftd")
    assert (tmp_path / "m1.parquet").read_bytes() == (tmp_path / "m2.parquet").read_bytes()
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must not survive"


def test_by_name_and_require_name_the_offending_files_and_pairs():
    assert io.by_name([("a", "p1", 1), ("b", "p2", 2)], "thing") == {"a": 1, "b": 2}
    with pytest.raises(io.ArtifactError, match=r"two thing files are about 'a': p1 and p3"):
        io.by_name([("a", "p1", 1), ("b", "p2", 2), ("a", "p3", 3)], "thing")
    io.require({("a", "b")}, [("a", "b")], "pair")
    with pytest.raises(io.ArtifactError, match=r"missing \[\('b', 'a'\)\]; unexpected \[\('c', 'a'\)\]"):
        io.require({("a", "b"), ("c", "a")}, [("a", "b"), ("b", "a")], "pair")


# ------------------------------------------------------------------------------------------------ dataset files


@pytest.fixture
def small_dataset() -> Dataset:
    images = np.random.default_rng(0).integers(0, 256, size=(6, 1, 8, 8), dtype=np.uint8)
    origin = np.array([0, 0, 0, 0, 1, 1], dtype=np.uint8)
    pool = np.array([0, 1, 0, 1, 2, 2], dtype=np.uint8)
    ids = np.array([10, 3, 7, 0, 12, 5], dtype=np.int64)
    return Dataset(images, np.arange(6) % 3, origin, pool, ("a", "b", "T-shirt/top"), ids)


def _same(a: Dataset, b: Dataset) -> None:
    for field in ("images", "labels", "origin", "pool", "ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert getattr(a, field).dtype == getattr(b, field).dtype, field
    assert a.class_names == b.class_names


def test_dataset_file_round_trip_with_its_format_and_name(tmp_path, small_dataset):
    path = tmp_path / "sub" / "digits.npz"
    dataset.write(small_dataset, path, dataset="digits")
    assert os.listdir(path.parent) == ["digits.npz"]  # no temporary file left behind
    back, names = dataset.read_named(path)
    _same(back, small_dataset)
    assert names == {"dataset": "digits"}
    with np.load(path) as npz:  # the format entry: plain JSON in a string array, no pickle
        assert json.loads(str(npz["format"])) == {"format": "dataset", "version": 1, "names": {"dataset": "digits"}}


def test_dataset_parts_concatenate_in_the_order_given(tmp_path, small_dataset):
    ds = small_dataset
    for c in range(3):
        keep = ds.labels == c
        part = Dataset(ds.images[keep], ds.labels[keep], ds.origin[keep], ds.pool[keep], ds.class_names, ds.ids[keep])
        dataset.write(part, tmp_path / f"{c}.npz", dataset="digits")
    back = dataset.read([tmp_path / f"{c}.npz" for c in (2, 0, 1)])
    order = np.concatenate([np.flatnonzero(ds.labels == c) for c in (2, 0, 1)])
    _same(back, Dataset(ds.images[order], ds.labels[order], ds.origin[order], ds.pool[order], ds.class_names,
                        ds.ids[order]))
    dataset.write(small_dataset, tmp_path / "other.npz", dataset="mnist")
    with pytest.raises(io.ArtifactError, match=r"not parts of one dataset \(they name \['digits', 'mnist'\]"):
        dataset.read([tmp_path / "0.npz", tmp_path / "other.npz"])
    with pytest.raises(ValueError, match="no dataset files"):
        dataset.read([])


def _arrays(ds: Dataset) -> dict[str, np.ndarray]:
    return {"images": ds.images, "labels": ds.labels, "origin": ds.origin, "pool": ds.pool, "ids": ds.ids,
            "class_names": np.array(ds.class_names)}


@pytest.mark.parametrize("case", ["truncated", "no format", "other version", "other format", "not npz", "missing",
                                  "lacks ids", "bad dtype"])
def test_bad_dataset_files_name_the_file_and_the_fix(tmp_path, small_dataset, case):
    path = tmp_path / "digits.npz"
    dataset.write(small_dataset, path, dataset="digits")
    expected = {
        "truncated": "is unreadable",
        "no format": "declares no taskdist format",
        "other version": "is a dataset v0 file; expected a dataset v1 file",
        "other format": "is a task_table v1 file; expected a dataset v1 file",
        "not npz": "is unreadable",
        "missing": "does not exist; run snakemake",
        "lacks ids": r"lacks the entries \['ids'\]",
        "bad dtype": "does not hold a dataset .labels must be int64",
    }[case]
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif case == "no format":  # a file written before the format entry (dataset stage VERSION 3)
        np.savez(path, **_arrays(small_dataset))
    elif case in ("other version", "other format"):
        fmt = io.Format("dataset", 0) if case == "other version" else task_table.FORMAT
        io.write_npz(_arrays(small_dataset), path, fmt, {"dataset": "digits"})
    elif case == "not npz":
        path.write_text("hello")
    elif case == "missing":
        path.unlink()
    elif case == "lacks ids":
        io.write_npz({k: v for k, v in _arrays(small_dataset).items() if k != "ids"}, path, dataset.FORMAT,
                     {"dataset": "digits"})
    else:
        io.write_npz({**_arrays(small_dataset), "labels": small_dataset.labels.astype(np.int32)}, path,
                     dataset.FORMAT, {"dataset": "digits"})
    with pytest.raises(io.ArtifactError, match=expected) as err:
        dataset.read(path)
    assert str(path) in str(err.value) and "snakemake" in str(err.value)
    if case not in ("missing", "other format"):  # a sound file of another kind is not called corrupt
        assert io.recompute_hint(path) in str(err.value)


def test_dataset_rejects_wrong_dtypes(small_dataset):
    ds = small_dataset
    with pytest.raises(ValueError, match="labels must be int64"):
        Dataset(ds.images, ds.labels.astype(np.int32), ds.origin, ds.pool, ())
    with pytest.raises(ValueError, match="pool must be uint8"):
        Dataset(ds.images, ds.labels, ds.origin, ds.pool.astype(np.int64), ())
    with pytest.raises(ValueError, match="pool must be uint8 \\(6,\\)"):
        Dataset(ds.images, ds.labels, ds.origin, ds.pool[:5], ())
    with pytest.raises(ValueError, match="pool values must index"):
        Dataset(ds.images, ds.labels, ds.origin, ds.pool + 1, ())
    with pytest.raises(ValueError, match="holds the file's format"):
        io.write_npz({"format": np.zeros(1)}, "unused.npz", dataset.FORMAT)


# ------------------------------------------------------------------------------------------------ task tables


def _task_table() -> pd.DataFrame:
    return pd.DataFrame({"index": np.array([7, 2, 40], dtype=np.int64), "label": np.array([1, 0, 1], dtype=np.int64),
                         "split": ["val", "train", "test"]})


def test_task_table_round_trip_with_its_format_and_task(tmp_path):
    path = tmp_path / "low.parquet"
    task_table.write(_task_table(), path, task="low")
    table, names = task_table.read_named(path)
    assert names == {"task": "low"} and io.read_names(path, task_table.FORMAT) == {"task": "low"}
    expected = _task_table().sort_values("index").reset_index(drop=True)
    assert isinstance(table, task_table.TaskTable)
    assert table.index.dtype == table.label.dtype == np.int64 and table.split.dtype == object
    pd.testing.assert_frame_equal(table.to_frame(), expected)
    pd.testing.assert_frame_equal(task_table.read(path, task="low").to_frame(), expected)
    task_table.write(table, tmp_path / "again.parquet", task="low")  # a TaskTable writes as its frame does
    pd.testing.assert_frame_equal(task_table.read(tmp_path / "again.parquet").to_frame(), expected)
    with pytest.raises(io.ArtifactError, match="is the table of task 'low', expected 'high'.*rerun snakemake"):
        task_table.read(path, task="high")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['split'\]"):
        task_table.write(_task_table().drop(columns="split"), path, task="low")


@pytest.mark.parametrize("case", ["truncated", "no format", "other version", "other format", "missing", "no task"])
def test_bad_task_tables_name_the_file_and_the_fix(tmp_path, case):
    path = tmp_path / "low.parquet"
    task_table.write(_task_table(), path, task="low")
    expected = {
        "truncated": "is unreadable",
        "no format": "declares no taskdist format",
        "other version": "is a task_table v0 file; expected a task_table v1 file",
        "other format": "is a matrix v1 file; expected a task_table v1 file",
        "missing": "does not exist; run snakemake",
        "no task": "does not name its task",
    }[case]
    if case == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "no format":  # as written before the format (task stage VERSION 2)
        io.write_parquet(_task_table(), path, sort_by=["index"])
    elif case == "other version":
        io.write_parquet(_task_table(), path, names={"task": "low"}, format=io.Format("task_table", 0))
    elif case == "other format":
        matrices.write(_matrix(), path, method="ftd")
    elif case == "missing":
        path.unlink()
    else:
        io.write_parquet(_task_table(), path, format=task_table.FORMAT)
    with pytest.raises(io.ArtifactError, match=expected) as err:
        task_table.read(path)
    assert str(path) in str(err.value) and "snakemake" in str(err.value)


# ------------------------------------------------------------------------------------------------ vectors


def test_per_filter_vectors_round_trip_with_their_names(tmp_path):
    emb = {"layer1.0.conv1": np.array([0.5, 1.5, 2.0]), "fc": np.array([3.0]), "conv1": np.array([1e-9, 0.0])}
    table = vectors.table(emb)
    assert list(table.columns) == ["layer", "filter", "value"]
    assert list(table.layer) == ["conv1", "conv1", "fc", "layer1.0.conv1", "layer1.0.conv1", "layer1.0.conv1"]
    assert list(table["filter"]) == [0, 1, 0, 0, 1, 2]
    path = tmp_path / "task.parquet"
    vectors.write(emb, path, task="low")
    back, names = vectors.read(path)
    assert names == {"task": "low"} and list(back) == sorted(emb)
    for k in emb:
        np.testing.assert_array_equal(back[k], emb[k])
        assert back[k].dtype == np.float64
    np.testing.assert_array_equal(vectors.flat(back), [1e-9, 0.0, 3.0, 0.5, 1.5, 2.0])
    shuffled = table.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(vectors.flat(vectors.from_table(shuffled)), vectors.flat(emb))


def test_per_entry_vectors_keep_the_row_order_of_the_fisher_table(tmp_path):
    """A Fisher diagonal at parameter granularity: (filters, entries); ``flat`` reads it filter-major, as the
    table's rows: the vector FTD compares does not depend on how the rows are stored."""
    fisher = {"features.0.weight": np.arange(6.0).reshape(3, 2), "features.0.bias": np.array([[7.0], [8.0], [9.0]])}
    path = tmp_path / "b.parquet"
    vectors.write(fisher, path, net="a", data="b")
    table = io.read_parquet(path)
    assert list(table.columns) == ["layer", "filter", "param", "value"]
    np.testing.assert_array_equal(table["value"], vectors.flat(fisher))  # rows in the order of the vector
    back, names = vectors.read(path)
    assert names == {"data": "b", "net": "a"} and back["features.0.weight"].shape == (3, 2)
    shuffled = vectors.from_table(table.sample(frac=1.0, random_state=3))
    np.testing.assert_array_equal(vectors.flat(shuffled), vectors.flat(fisher))
    assert vectors.layout(back) == (("features.0.bias", (3, 1)), ("features.0.weight", (3, 2)))


def test_vector_tables_refuse_malformed_and_foreign_content(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        vectors.from_table(pd.DataFrame({"layer": ["a"], "value": [1.0]}))
    with pytest.raises(ValueError, match="empty"):
        vectors.from_table(pd.DataFrame({"layer": [], "filter": [], "value": []}))
    with pytest.raises(ValueError, match="filters 0..1 once each"):
        vectors.from_table(pd.DataFrame({"layer": ["a", "a"], "filter": [0, 0], "value": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="entries 0..m-1 once each"):
        vectors.from_table(pd.DataFrame({"layer": ["a"] * 3, "filter": [0, 0, 1], "param": [0, 1, 0],
                                         "value": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="non-negative"):
        vectors.table({"a": np.array([1.0, -1.0])})
    with pytest.raises(ValueError, match="mix per-filter"):
        vectors.table({"a": np.ones(2), "b": np.ones((2, 2))})
    with pytest.raises(ValueError, match="non-empty mapping"):
        vectors.flat({})
    with pytest.raises(ValueError, match="names"):
        vectors.write({"a": np.ones(2)}, tmp_path / "x.parquet")
    io.write_parquet(vectors.table({"a": np.ones(2)}), tmp_path / "old.parquet")  # an old, unnamed table
    with pytest.raises(io.ArtifactError, match="declares no taskdist format"):
        vectors.read(tmp_path / "old.parquet")
    matrices.write(_matrix(), tmp_path / "m.parquet", method="ftd")
    with pytest.raises(io.ArtifactError, match="is a matrix v1 file; expected a vectors v1 file"):
        vectors.read(tmp_path / "m.parquet")


# ------------------------------------------------------------------------------------------------ matrices


def test_matrix_round_trip_names_and_square(tmp_path):
    path = tmp_path / "m.parquet"
    matrices.write(_matrix(), path, method="ftd")
    df, names = matrices.read(path)
    assert names == {"kind": "distances", "method": "ftd"}
    assert list(zip(df.source, df.target, strict=True)) == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    square = matrices.to_square(df, order=["b", "a"])
    assert square.loc["b", "a"] == 0.3 and list(square.index) == ["b", "a"]
    assert matrices.read_method(path, "ftd") is not None
    with pytest.raises(io.ArtifactError, match="the distances matrix of ftd, expected the distances matrix of tanas"):
        matrices.read_method(path, "tanas")
    with pytest.raises(io.ArtifactError, match="expected a floor matrix"):
        matrices.read_all([path], kind="floor")


def test_matrices_refuse_repeated_and_missing_pairs(tmp_path):
    with pytest.raises(ValueError, match=r"more than once: \[\('a', 'b'\)\]"):
        matrices.write(pd.concat([_matrix(), _matrix().iloc[[1]]]), tmp_path / "m.parquet", method="ftd")
    with pytest.raises(ValueError, match=r"lacks the pairs \[\('b', 'a'\)\]"):
        matrices.write(_matrix().drop(index=0), tmp_path / "m.parquet", method="ftd")
    floor = pd.DataFrame({"source": ["a", "b"], "target": ["a", "b"], "value": [0.1, 0.2]})
    matrices.write(floor, tmp_path / "f.parquet", method="ftd", kind="floor")  # a floor needs no pairs
    assert list(matrices.read_all([tmp_path / "f.parquet"], kind="floor")) == ["ftd"]
    matrices.write(_matrix(), tmp_path / "m1.parquet", method="ftd")
    matrices.write(_matrix(), tmp_path / "m2.parquet", method="ftd")
    with pytest.raises(io.ArtifactError, match="two distances matrix files are about 'ftd'"):
        matrices.read_all([tmp_path / "m1.parquet", tmp_path / "m2.parquet"])


def test_score_tables_name_their_target(tmp_path):
    table = pd.DataFrame({"source": ["b", "a"], "sample": ["task", "task"], "method": ["leep", "leep"],
                          "value": [1.0, 2.0], "examples": [60, 60], "features": [64, 64]})
    matrices.write_scores(table, tmp_path / "c.parquet", target="c")
    df, target = matrices.read_scores(tmp_path / "c.parquet")
    assert target == "c" and df["source"].tolist() == ["a", "b"] and set(df["target"]) == {"c"}
    assert list(df.columns) == ["source", "sample", "method", "value", "examples", "features", "target"]


# ------------------------------------------------------------------------------------------------ records


def test_records_name_their_pair_and_carry_their_format(tmp_path):
    path = tmp_path / "a" / "b.json"
    records.write({"tanas": 0.25}, path, "tanas", source="a", target="b")
    raw = json.loads(path.read_text())
    assert raw == {"format": "record", "format_version": 1, "kind": "tanas", "source": "a", "target": "b",
                   "tanas": 0.25}
    assert records.read(path, "tanas") == {"source": "a", "target": "b", "tanas": 0.25}
    with pytest.raises(io.ArtifactError, match="is a 'tanas' record, expected 'transfer'"):
        records.read(path, "transfer")
    path.write_text(json.dumps({"source": "a", "target": "b", "tanas": 0.25}))  # as written before records
    with pytest.raises(io.ArtifactError, match="declares no taskdist format"):
        records.read(path, "tanas")
    with pytest.raises(ValueError, match=r"is about \('source', 'target'\)"):
        records.write({"tanas": 0.1}, path, "tanas", target="b")
    with pytest.raises(ValueError, match=r"needs the keys \['tanas'\]"):
        records.write({}, path, "tanas", source="a", target="b")
    with pytest.raises(ValueError, match="must not hold the keys"):
        records.write({"tanas": 0.1, "source": "x"}, path, "tanas", source="a", target="b")


def test_records_by_their_names_whatever_the_file_names(tmp_path):
    records.write({"tanas": 0.1}, tmp_path / "1.json", "tanas", source="a", target="b")
    records.write({"tanas": 0.2}, tmp_path / "2.json", "tanas", source="b", target="a")
    found = records.read_all([tmp_path / "2.json", tmp_path / "1.json"], "tanas")
    assert {pair: r["tanas"] for pair, r in found.items()} == {("a", "b"): 0.1, ("b", "a"): 0.2}
    records.write({"tanas": 0.3}, tmp_path / "3.json", "tanas", source="a", target="b")
    with pytest.raises(io.ArtifactError, match=r"about \('a', 'b'\): .*1.json and .*3.json"):
        records.read_all([tmp_path / "1.json", tmp_path / "3.json"], "tanas")
