"""Artifacts: atomic, deterministic writes; clear errors for missing, truncated or foreign files."""

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from taskdist.artifacts import checkpoint, dataset, io, matrices, records
from taskdist.artifacts.dataset import Dataset
from taskdist.cli import main


def _matrix():
    return pd.DataFrame({"source": ["b", "a", "a", "b"], "target": ["a", "b", "a", "b"], "value": [0.3, 0.2, 0, 0]})


def test_failed_write_leaves_the_previous_artifact(tmp_path):
    path = tmp_path / "m.parquet"
    matrices.write(_matrix(), path, method="ftd")
    before = path.read_bytes()
    with pytest.raises(pa.ArrowInvalid):
        io.write_parquet(pd.DataFrame({"x": [object()]}), path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("kind", ["parquet", "checkpoint"])
def test_truncated_artifact_error_names_the_file_and_the_fix(tmp_path, kind):
    if kind == "parquet":
        path = tmp_path / "ftd.parquet"
        matrices.write(_matrix(), path, method="ftd")
        read = matrices.read
    else:
        path = tmp_path / "net.pt"
        checkpoint.write({**dict.fromkeys(checkpoint.KEYS, 0), "state_dict": {"w": torch.ones(100)}}, path)
        read = checkpoint.read
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(io.ArtifactError) as err:
        read(path)
    assert str(path) in str(err.value) and "rerun snakemake" in str(err.value)


def test_foreign_and_missing_artifacts(tmp_path):
    path = tmp_path / "other.parquet"
    io.write_parquet(pd.DataFrame({"a": [1]}), path)
    with pytest.raises(io.ArtifactError, match="lacks columns"):
        io.read_parquet(path, matrices.COLUMNS)
    with pytest.raises(io.ArtifactError, match="does not exist"):
        matrices.read(tmp_path / "nope.parquet")
    torch.save({"x": 1}, tmp_path / "c.pt")  # a .pt file, not a checkpoint
    with pytest.raises(io.ArtifactError, match=r"c.pt lacks \['state_dict'.*rerun snakemake"):
        checkpoint.read(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="would lack"):
        checkpoint.write({"x": 1}, tmp_path / "d.pt")
    assert not (tmp_path / "d.pt").exists()


def test_cli_show_and_its_error(tmp_path, capsys):
    matrices.write(_matrix(), tmp_path / "m.parquet", method="ftd")
    assert main(["show", str(tmp_path / "m.parquet")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["source", "\\", "target", "a", "b"]
    assert out[2].split() == ["b", "0.3", "0.0"]
    assert main(["show", str(tmp_path / "missing.parquet")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_shows_a_checkpoint(tmp_path, capsys):
    ckpt = {"state_dict": {}, "arch": {"widths": [8]}, "in_channels": 1, "n_classes": 2,
            "task": {"id": "low", "dataset": "digits"}, "metrics": {"test_accuracy": 0.5}}
    checkpoint.write(ckpt, tmp_path / "low.pt")
    assert main(["show", str(tmp_path / "low.pt")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "task low (digits, 2 classes)" and out[-1].split() == ["test_accuracy", "0.5000"]


def test_cli_shows_records_and_dataset_classes_and_names_what_it_reads(tmp_path, capsys):
    runs = [{"setting": "finetune", "replicate": 0, "accuracy": 0.91234}, {"setting": "linear", "replicate": 0,
                                                                           "accuracy": 0.8}]
    records.write({"runs": runs}, tmp_path / "b.json", "transfer", source="a", target="b")
    assert main(["show", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "transfer record: source a, target b"
    assert "finetune" in out and "0.912" in out and "delete" not in out
    n = 6
    ds = Dataset(np.zeros((n, 1, 8, 8), np.uint8), np.array([0, 0, 0, 1, 1, 1], np.int64), np.zeros(n, np.uint8),
                 np.array([0, 1, 2, 0, 0, 2], np.uint8), ("zero", "one"))
    dataset.write(ds, tmp_path / "zero.npz", dataset="digits")
    assert main(["show", str(tmp_path / "zero.npz")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dataset digits: 6 images (1, 8, 8)") and "zero" in out and "test" in out
    (tmp_path / "notes.txt").write_text("x")
    assert main(["show", str(tmp_path / "notes.txt")]) == 1
    assert ".parquet, .json, .pt, .npz" in capsys.readouterr().err


def test_a_sound_file_of_another_kind_is_not_called_corrupt(tmp_path):
    io.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet", format=io.Format("floors", 1))
    with pytest.raises(io.ArtifactError, match="is a floors v1 file; expected a .* file: pass a file of that kind"
                       ) as err:
        matrices.read(tmp_path / "t.parquet")
    assert "delete" not in str(err.value)


def test_written_files_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        matrices.write(_matrix(), tmp_path / "m.parquet", method="ftd")
        os.umask(0o002)
        io.write_json({"a": 1}, tmp_path / "r.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.parquet").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o664


def test_nearest_for_a_method_the_run_did_not_compute_says_which_config_does(tmp_path, capsys):
    (tmp_path / "distances").mkdir()
    assert main(["nearest", "a", "--method", "coupled", "--results", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "did not compute coupled" in err and "configs/literature.yaml" in err
    assert "run snakemake to compute it" not in err  # a plain rerun would not compute it


def test_summary_reads_a_reliability_out_of_range_and_says_why_targets_are_missing(tmp_path):
    from taskdist.cli import reliability_text

    table = pd.DataFrame({"setting": ["finetune", "linear"], "value": "gain", "replicates": 4, "pairs": 12,
                          "over_pairs": [0.2, 0.95], "within_targets": [-2.53, float("nan")], "targets": [3, 0]})
    rows = [{"source": s, "target": t, "setting": st, "replicate": r, "accuracy": 0.5, "loss": 1.0,
             "scratch_accuracy": 0.4, "gain": 0.1} for st in ("finetune", "linear") for s in "abcd" for t in "abcd"
            if s != t for r in range(4)]
    matrices.write_transfer(pd.DataFrame(rows), tmp_path / "transfer.parquet")
    text = reliability_text(table, tmp_path / "transfer.parquet")
    assert "-2.530  none: the replicates disagree" in text
    assert "0.200  low: a correlation with it can reach only about 0.45" in text
    assert "nan  undefined" in text and "0.950  ok" in text
    assert "1 of 4 targets left out" in text and "4 of 4 targets left out" in text
    assert "over seeds" not in text
    seeded = reliability_text(table.assign(seeds=2, over_seeds=[0.87, 0.98]), tmp_path / "transfer.parquet")
    assert "over seeds       0.870  ok" in seeded and "the 2 source networks' seeds" in seeded


def test_columns_write_without_pandas_as_a_frame_would(tmp_path):
    """io.write_columns (the Fisher and Task2Vec jobs' writer) builds Arrow arrays from buffers; read back, the
    file is the frame io.write_parquet writes, and it names a column it cannot store."""
    columns = {"layer": np.array(["b", "a", "b", "é"], dtype=object), "filter": np.arange(4, dtype=np.int32),
               "value": np.array([0.5, 1.0, 2.0, 1e-300])}
    io.write_columns(columns, tmp_path / "c.parquet", names={"task": "t"}, format=io.Format("vectors", 1))
    io.write_parquet(pd.DataFrame(columns), tmp_path / "f.parquet")
    read = pd.read_parquet(tmp_path / "c.parquet")
    pd.testing.assert_frame_equal(read, pd.read_parquet(tmp_path / "f.parquet"))
    assert read["filter"].dtype == np.int32 and io.read_names(tmp_path / "c.parquet") == {"task": "t"}
    got, names = io.read_parquet_columns(tmp_path / "c.parquet", ("layer", "value"), io.Format("vectors", 1))
    assert names == {"task": "t"} and got["layer"].tolist() == ["b", "a", "b", "é"]
    assert np.array_equal(got["value"], columns["value"])
    with pytest.raises(TypeError, match="numbers or strings, got dtype bool"):
        io.write_columns({"x": np.array([True, False])}, tmp_path / "b.parquet")
    io.write_parquet(pd.DataFrame({"x": [1.0, None]}), tmp_path / "n.parquet")
    with pytest.raises(io.ArtifactError, match=r"n.parquet: a column holds 1 missing values.*rerun snakemake"):
        io.read_parquet_columns(tmp_path / "n.parquet", ("x",))
