"""Aggregates take their pairs from the files: a shuffled input list gives the same result, a repeated or missing
pair a clear error (taskdist.aggregates, in-process on tiny files)."""

import random

import numpy as np
import pandas as pd
import pytest

from taskdist import aggregates
from taskdist.artifacts import io, matrices, records, vectors
from taskdist.methods.distances import fisher_task_distance
from taskdist.methods.registry import METHODS
from taskdist.methods.task2vec import TRIVIAL

TASKS = ["a", "b", "c"]
PAIRS = [(s, t) for s in TASKS for t in TASKS if s != t]


def shuffled(paths, seed=0):
    paths = list(paths)
    random.Random(seed).shuffle(paths)
    return paths


def _fisher(rng):
    return {"conv.weight": rng.random((2, 3)), "conv.bias": rng.random((2, 1))}


@pytest.fixture
def fisher_files(tmp_path):
    rng = np.random.default_rng(0)
    pairs, floors, values = [], [], {}
    for net in TASKS:
        for data in [*TASKS, f"{net}@resample"]:
            values[(net, data)] = _fisher(rng)
            path = tmp_path / "fisher" / net / f"{data}.parquet"
            vectors.write(values[(net, data)], path, net=net, data=data)
            (floors if "@" in data else pairs).append(path)
    return pairs, floors, values


def test_ftd_is_the_same_for_a_shuffled_input_list(fisher_files):
    pairs, floors, values = fisher_files
    matrix, floor = aggregates.ftd(pairs, floors)
    again, floor_again = aggregates.ftd(shuffled(pairs), shuffled(floors, 1))
    pd.testing.assert_frame_equal(matrix, again)
    pd.testing.assert_frame_equal(floor, floor_again)
    d = {(r.source, r.target): r.value for r in matrix.itertuples()}
    assert d[("a", "b")] == fisher_task_distance(vectors.flat(values[("a", "a")]), vectors.flat(values[("a", "b")]))
    assert d[("b", "b")] == 0.0
    assert floor.set_index("source").loc["c", "value"] == fisher_task_distance(
        vectors.flat(values[("c", "c")]), vectors.flat(values[("c", "c@resample")]))


def test_ftd_refuses_a_repeated_or_missing_pair(fisher_files, tmp_path):
    pairs, floors, values = fisher_files
    with pytest.raises(io.ArtifactError, match=r"two vector table files are about \('a', 'b'\)"):
        aggregates.ftd([*pairs, pairs[1]], floors)
    ab = next(p for p in pairs if p.parent.name == "a" and p.stem == "b")
    with pytest.raises(io.ArtifactError, match=r"missing \[\('a', 'b'\)\]"):
        aggregates.ftd([p for p in pairs if p != ab], floors)
    with pytest.raises(io.ArtifactError, match=r"missing \['b'\]"):
        aggregates.ftd(pairs, [p for p in floors if p.parent.name != "b"])
    # a file in the wrong place is read for what it says it is: here a second (a, b)
    vectors.write(values[("a", "b")], tmp_path / "fisher" / "b" / "a.parquet", net="a", data="b")
    with pytest.raises(io.ArtifactError, match=r"about \('a', 'b'\)"):
        aggregates.ftd(pairs, floors)


def test_ftd_refuses_tables_of_different_networks(fisher_files, tmp_path):
    pairs, floors, _ = fisher_files
    path = next(p for p in pairs if p.parent.name == "a" and p.stem == "c")
    vectors.write({"other.weight": np.ones((2, 3))}, path, net="a", data="c")
    with pytest.raises(io.ArtifactError, match="other layers or sizes"):
        aggregates.ftd(pairs, floors)


def test_ftd_variants_by_the_names_inside(fisher_files, tmp_path):
    pairs, floors, _ = fisher_files
    matrix, _ = aggregates.ftd(pairs, floors)
    matrices.write(matrix, tmp_path / "ftd.parquet", method="ftd")
    rng = np.random.default_rng(1)
    variant = []
    for task in TASKS:
        for data in TASKS:
            path = tmp_path / "fisher" / f"{task}@seed1" / f"{data}.parquet"
            vectors.write(_fisher(rng), path, net=f"{task}@seed1", data=data)
            variant.append(path)
    squares = aggregates.ftd_variants(tmp_path / "ftd.parquet", variant)
    assert list(squares) == ["ftd", "ftd@seed1"]
    again = aggregates.ftd_variants(tmp_path / "ftd.parquet", shuffled(variant))
    pd.testing.assert_frame_equal(squares["ftd@seed1"], again["ftd@seed1"])
    with pytest.raises(io.ArtifactError, match="missing"):
        aggregates.ftd_variants(tmp_path / "ftd.parquet", variant[1:])


def test_task2vec_by_task_names(tmp_path):
    rng = np.random.default_rng(2)
    emb, res = [], []
    for task in TASKS:
        for name, out in ((task, emb), (f"{task}@resample", res)):
            path = tmp_path / f"{name}.parquet"
            vectors.write({"l1": rng.random(3), "l2": rng.random(2)}, path, task=name)
            out.append(path)
    vectors.write({"l1": np.ones(3), "l2": np.ones(2)}, tmp_path / "_trivial.parquet", task=TRIVIAL)
    out = aggregates.task2vec(emb, res, tmp_path / "_trivial.parquet", 0.15)
    again = aggregates.task2vec(shuffled(emb), shuffled(res), tmp_path / "_trivial.parquet", 0.15)
    for key in out:
        pd.testing.assert_frame_equal(out[key].sort_values(["source", "target"], ignore_index=True),
                                      again[key].sort_values(["source", "target"], ignore_index=True))
    assert sorted(out["task2vec_floor"]["source"]) == TASKS
    with pytest.raises(io.ArtifactError, match="not the trivial one"):
        aggregates.task2vec(emb, res, emb[0], 0.15)
    with pytest.raises(io.ArtifactError, match=r"missing \['a'\]"):
        aggregates.task2vec(emb, res[1:], tmp_path / "_trivial.parquet", 0.15)
    with pytest.raises(io.ArtifactError, match="about"):
        aggregates.task2vec([*emb, emb[0]], res, tmp_path / "_trivial.parquet", 0.15)


def test_tanas_by_the_pair_in_each_record(tmp_path):
    pairs, floors = [], []
    for k, (s, t) in enumerate([*PAIRS, *[(x, f"{x}@resample") for x in TASKS]]):
        path = tmp_path / f"{k}.json"  # the file name says nothing
        records.write({"tanas": 0.1 * k}, path, "tanas", source=s, target=t)
        (floors if "@" in t else pairs).append(path)
    matrix, floor = aggregates.tanas(pairs, floors)
    again, floor_again = aggregates.tanas(shuffled(pairs), shuffled(floors))
    key = ["source", "target"]
    pd.testing.assert_frame_equal(matrix.sort_values(key, ignore_index=True), again.sort_values(key, ignore_index=True))
    pd.testing.assert_frame_equal(floor, floor_again)
    d = {(r.source, r.target): r.value for r in matrix.itertuples()}
    assert d[PAIRS[3]] == pytest.approx(0.3) and d[("a", "a")] == 0.0
    assert floor["target"].tolist() == TASKS
    with pytest.raises(io.ArtifactError, match=r"missing \[\('a', 'b'\)\]"):
        aggregates.tanas(pairs[1:], floors)
    with pytest.raises(io.ArtifactError, match="two tanas record files"):
        aggregates.tanas([*pairs, pairs[2]], floors)


def _score_tables(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for target in TASKS:
        rows = [{"source": s, "sample": sample, "method": m, "value": rng.random(),
                 "examples": 30, "features": 8}
                for s in TASKS if s != target for sample in ("task", "resample") for m in ("leep", "nce")]
        matrices.write_scores(pd.DataFrame(rows), tmp_path / f"{target}.parquet", target=target)
        paths.append(tmp_path / f"{target}.parquet")
    return paths


def test_scores_by_the_target_each_table_names(tmp_path):
    paths = _score_tables(tmp_path)
    matrix, floor = aggregates.scores(paths, "leep")
    again, floor_again = aggregates.scores(shuffled(paths, 2), "leep")
    key = ["source", "target"]
    pd.testing.assert_frame_equal(matrix.sort_values(key, ignore_index=True), again.sort_values(key, ignore_index=True))
    pd.testing.assert_frame_equal(floor.sort_values(key, ignore_index=True),
                                  floor_again.sort_values(key, ignore_index=True))
    assert sorted(zip(matrix.source, matrix.target, strict=True)) == PAIRS
    with pytest.raises(io.ArtifactError, match="two score table files are about 'a'"):
        aggregates.scores([*paths, paths[0]], "leep")
    expected = r"'a' has leep \(task\) for the sources \['b', 'c'\], expected each of \['b'\] once"
    with pytest.raises(io.ArtifactError, match=expected):
        aggregates.scores(paths[:2], "leep")  # c is no longer a task, yet a's and b's tables score it
    with pytest.raises(ValueError, match="not a transferability score"):
        aggregates.scores(paths, "ftd")


def _transfer_records(tmp_path):
    pairs, scratch = [], []
    for target in TASKS:
        path = tmp_path / "scratch" / f"{target}.json"
        runs = [{"setting": "scratch", "replicate": r, "accuracy": 0.5, "loss": 1.0, "epochs": 3, "best_epoch": 2,
                 "stopped": "patience"} for r in range(2)]
        records.write({"runs": runs}, path, "scratch", target=target)
        scratch.append(path)
    for k, (s, t) in enumerate(PAIRS):
        runs = [{"setting": "finetune", "replicate": r, "accuracy": 0.5 + 0.05 * k + 0.01 * r, "loss": 1.0,
                 "epochs": 3, "best_epoch": 2, "stopped": "patience"} for r in range(2)]
        path = tmp_path / f"{k}.json"
        records.write({"runs": runs}, path, "transfer", source=s, target=t)
        pairs.append(path)
    return pairs, scratch


def test_transfer_table_by_the_pair_in_each_record(tmp_path):
    pairs, scratch = _transfer_records(tmp_path)
    table = aggregates.transfer_table(pairs, scratch)
    pd.testing.assert_frame_equal(table, aggregates.transfer_table(shuffled(pairs), shuffled(scratch)))
    row = table[(table.source == "b") & (table.target == "c") & (table.replicate == 1)].iloc[0]
    assert row["gain"] == pytest.approx(0.05 * PAIRS.index(("b", "c")) + 0.01)
    with pytest.raises(io.ArtifactError, match=r"missing \[\('a', 'b'\)\]"):
        aggregates.transfer_table(pairs[1:], scratch)
    with pytest.raises(io.ArtifactError, match="two transfer record files"):
        aggregates.transfer_table([*pairs, pairs[0]], scratch)
    with pytest.raises(io.ArtifactError, match="'transfer' record, expected 'scratch'"):
        aggregates.transfer_table(pairs, [*scratch, pairs[0]])


def _method_files(tmp_path, methods=("tanas", "ftd", "leep")):
    rng = np.random.default_rng(4)
    found, floor_paths = [], []
    for method in methods:
        rows = [{"source": s, "target": t, "value": 0.0 if s == t else rng.random()}
                for s in TASKS for t in TASKS if METHODS[method].kind == "distance" or s != t]
        matrices.write(pd.DataFrame(rows), tmp_path / f"{method}.parquet", method=method)
        found.append(tmp_path / f"{method}.parquet")
        if METHODS[method].kind == "score":
            floor = pd.DataFrame(rows).assign(value=lambda df: df["value"] + 0.01)
        else:
            floor = pd.DataFrame({"source": TASKS, "target": TASKS, "value": rng.random(3) * 0.1})
        matrices.write(floor, tmp_path / "floors" / f"{method}.parquet", method=method, kind="floor")
        floor_paths.append(tmp_path / "floors" / f"{method}.parquet")
    return found, floor_paths


def test_method_matrices_in_registry_order_whatever_the_input_order(tmp_path):
    found, floor_paths = _method_files(tmp_path)
    assert list(aggregates.method_matrices(found, TASKS)) == ["ftd", "tanas", "leep"]  # METHODS' order
    assert list(aggregates.method_matrices(shuffled(found, 3), TASKS)) == ["ftd", "tanas", "leep"]
    with pytest.raises(io.ArtifactError, match=r"over the tasks \['a', 'b', 'c'\], expected \['a', 'b'\]"):
        aggregates.method_matrices(found, ["a", "b"])
    table, per_target = aggregates.noise_floors(found, floor_paths)
    again, per_target_again = aggregates.noise_floors(shuffled(found, 4), shuffled(floor_paths, 5))
    pd.testing.assert_frame_equal(table, again)
    pd.testing.assert_frame_equal(per_target, per_target_again)
    assert table["method"].tolist() == ["ftd", "tanas", "leep"]
    assert list(zip(per_target.method, per_target.target, strict=True)) == [
        (m, t) for m in ("ftd", "tanas", "leep") for t in TASKS]
    assert table["ratio"].notna().tolist() == [True, True, False]  # the between-task ratio: distances only
    assert table["within_ratio"].notna().all()
    with pytest.raises(io.ArtifactError, match=r"missing \['tanas'\]"):
        aggregates.noise_floors(found, [p for p in floor_paths if p.stem != "tanas"])
    with pytest.raises(io.ArtifactError, match="expected a floor matrix"):
        aggregates.noise_floors(found, found)


def test_mantel_and_selection_do_not_depend_on_the_order_of_their_inputs(tmp_path):
    found, _ = _method_files(tmp_path, ("ftd", "leep"))
    pairs, scratch = _transfer_records(tmp_path)
    matrices.write_transfer(aggregates.transfer_table(pairs, scratch), tmp_path / "transfer.parquet")
    kw = dict(method="spearman", permutations=20, seed=0)
    table = aggregates.mantel(found, tmp_path / "transfer.parquet", TASKS, **kw)
    pd.testing.assert_frame_equal(table, aggregates.mantel(found[::-1], tmp_path / "transfer.parquet", TASKS, **kw))
    chosen = aggregates.selection(found, tmp_path / "transfer.parquet", TASKS, seed=0)
    pd.testing.assert_frame_equal(chosen, aggregates.selection(found[::-1], tmp_path / "transfer.parquet", TASKS,
                                                               seed=0))


def _search(task, search, role, bases=()):
    return {"bases": list(bases), "space": {"ops": ["skip_connect"]}, "genotype": {"edges": []}, "params": 10,
            "val_accuracy": 0.5, "test_accuracy": 0.4, "candidates_trained": 3, "search_seconds": 1.0,
            "final_seconds": 2.0, "history": []}


def test_nas_summary_by_the_task_search_and_role_in_each_record(tmp_path):
    paths = []
    for k, (task, search, role) in enumerate([("b1", "full", "base"), ("b2", "full", "base"),
                                              ("t", "task_aware", "target"), ("t", "full", "target"),
                                              ("t", "random", "target")]):
        records.write(_search(task, search, role), tmp_path / f"{k}.json", "search", task=task, search=search,
                      role=role)
        paths.append(tmp_path / f"{k}.json")
    table = aggregates.nas_summary(paths)
    pd.testing.assert_frame_equal(table, aggregates.nas_summary(shuffled(paths)))
    assert table[["role", "task", "search"]].values.tolist()[:3] == [["base", "b1", "full"], ["base", "b2", "full"],
                                                                     ["target", "t", "full"]]
    with pytest.raises(io.ArtifactError, match=r"target task 't' has the searches \['full', 'task_aware'\]"):
        aggregates.nas_summary(paths[:-1])
    assert set(aggregates.base_cells(paths[:2])) == {"b1", "b2"}
    with pytest.raises(io.ArtifactError, match="bases' full searches"):
        aggregates.base_cells(paths[:3])
