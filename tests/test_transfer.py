"""The ground truth of transfer: early stopping, paired replicates, the table, its reliability (the labelled budget
it trains on: tests/test_budget.py)."""

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from taskdist.artifacts.dataset import Dataset
from taskdist.data import budget
from taskdist.evaluation import reliability, transfer
from taskdist.nets import models, train
from taskdist.specs import ArchSpec, BudgetSpec, FinetuneSpec, LinearSpec, TransferSpec

ARCH = ArchSpec(widths=(4,), convs_per_stage=1, pool=2, hidden=8)


def _table(n_labels=3, per_split=(12, 6, 6)):
    rows = []
    index = 0
    for label in range(n_labels):
        for split, n in zip(("train", "val", "test"), per_split, strict=True):
            for _ in range(n):
                rows.append({"index": index, "label": label, "split": split})
                index += 1
    return pd.DataFrame(rows)


def _dataset(table, seed=0):
    """Images whose mean brightness encodes the label (learnable), with noise."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.tensor(table["label"].to_numpy(), dtype=torch.float32)[:, None, None, None] * 80 + 40
    images = (base + 30 * torch.randn(len(table), 1, 8, 8, generator=gen)).clamp(0, 255).to(torch.uint8).numpy()
    labels = table["label"].to_numpy(dtype=np.int64)
    pool = table["split"].map({"train": 0, "val": 1, "test": 2}).to_numpy(np.uint8)
    return Dataset(images=images, labels=labels, origin=np.zeros(len(table), np.uint8), pool=pool,
                   class_names=("a", "b", "c"))


def _spec(**kw):
    settings = {"samples_per_class": 4, "holdout_per_class": 3, "replicates": 2, "settings": ("finetune", "linear"),
                "finetune": FinetuneSpec(max_epochs=30, patience=3, batch_size=4, lr=0.01),
                "linear": LinearSpec(l2=1e-3, max_iter=200, tol=1e-6)}
    return TransferSpec(**{**settings, **kw})


def test_early_stopping_keeps_the_best_epoch_and_says_why(one_thread):
    torch.manual_seed(0)
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 3, (40,))
    held = (torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,)))  # unrelated labels: held-out loss soon rises
    net = models.build(ARCH, 1, 3, seed=0)
    stopped = train.fit_early_stopping(net, x, y, held, max_epochs=100, patience=4, batch_size=8, lr=0.05, seed=0)
    assert stopped.reason == "patience" and stopped.epochs < 100
    assert stopped.epochs - stopped.best_epoch == 4
    assert train.evaluate(net, *held).loss == pytest.approx(stopped.best_loss, rel=1e-6)
    capped = train.fit_early_stopping(models.build(ARCH, 1, 3, seed=0), x, y, (x, y), max_epochs=3, patience=50,
                                      batch_size=8, lr=0.01, seed=0)
    assert capped.reason == "max_epochs" and capped.epochs == 3


def test_a_fixed_fine_tuning_schedule_trains_max_epochs_and_keeps_the_last(one_thread):
    """``transfer.finetune.patience: null`` (accepted by the config) fine-tunes exactly max_epochs epochs."""
    import yaml

    from taskdist import config

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    raw["transfer"]["finetune"].update(patience=None, max_epochs=4)
    assert config.from_dict(config.validate_schema(raw)).transfer.finetune.patience is None
    table = _table()
    spec = _spec(settings=("finetune",), finetune=FinetuneSpec(max_epochs=4, patience=None, batch_size=4, lr=0.01))
    runs = transfer.run([_checkpoint(1)], _target(), _dataset(table), table, ARCH, spec, seed=9,
                        device=torch.device("cpu"))
    assert [(r["epochs"], r["best_epoch"], r["stopped"]) for r in runs] == [(4, 4, "fixed")] * 2


def _checkpoint(seed):
    from taskdist.artifacts import checkpoint

    net = models.build(ARCH, 1, 3, seed=seed)
    return checkpoint.make(net, {"id": f"s{seed}"}, {}, [])


def test_run_is_paired_across_sources_and_reproducible(one_thread):
    table = _table()
    dataset, spec = _dataset(table), _spec()
    cpu = torch.device("cpu")
    a = transfer.run([_checkpoint(1)], _target(), dataset, table, ARCH, spec, seed=9, device=cpu)
    again = transfer.run([_checkpoint(1)], _target(), dataset, table, ARCH, spec, seed=9, device=cpu)
    scratch = transfer.run(None, _target(), dataset, table, ARCH, spec, seed=9, device=cpu)
    assert a == again
    assert {(r["setting"], r["replicate"]) for r in a} == set(itertools.product(("finetune", "linear"), range(2)))
    assert {r["setting"] for r in scratch} == {"scratch"}
    for r in a + scratch:
        assert r["train_examples"] == 12 and r["held_out_examples"] == 9
        assert 0 <= r["accuracy"] <= 1 and r["stopped"] in ("patience", "max_epochs", "tolerance")
    assert {r["source_seed"] for r in a} == {0} and {r["source_seed"] for r in scratch} == {None}


def test_replicate_r_transfers_the_source_network_of_seed_r_mod_seeds(one_thread):
    """Two source seeds: replicates 0 and 2 transfer seed 0's network, replicate 1 seed 1's; each replicate's
    result is the one a single-seed run of that network gives (same budget, head and batches)."""
    table = _table()
    dataset, spec = _dataset(table), _spec(replicates=3, settings=("linear",))
    cpu = torch.device("cpu")
    both = transfer.run([_checkpoint(1), _checkpoint(2)], _target(), dataset, table, ARCH, spec, seed=9, device=cpu)
    assert [r["source_seed"] for r in both] == [0, 1, 0]
    for seed, ckpt in ((0, _checkpoint(1)), (1, _checkpoint(2))):
        alone = transfer.run([ckpt], _target(), dataset, table, ARCH, spec, seed=9, device=cpu)
        for mixed, single in zip(both, alone, strict=True):
            if mixed["source_seed"] == seed:
                assert mixed["accuracy"] == single["accuracy"] and mixed["loss"] == single["loss"]
    assert both[0]["accuracy"] != both[1]["accuracy"] or both[0]["loss"] != both[1]["loss"]
    with pytest.raises(ValueError, match="at least one source network"):
        transfer.run([], _target(), dataset, table, ARCH, spec, seed=9, device=cpu)


def test_every_replicate_trains_on_the_targets_labelled_budget(one_thread, monkeypatch):
    """Sources and the baseline draw replicate r of the same labelled budget: the target's seed, the spec's counts."""
    table = _table()
    dataset, spec = _dataset(table), _spec(settings=("linear",))
    drawn, original = [], budget.draw

    def draw(table_, budget_spec, replicate):
        drawn.append((budget_spec, replicate))
        return original(table_, budget_spec, replicate)

    monkeypatch.setattr(budget, "draw", draw)
    transfer.run([_checkpoint(1)], _target(), dataset, table, ARCH, spec, seed=9, device=torch.device("cpu"))
    assert drawn == [(BudgetSpec(samples_per_class=4, holdout_per_class=3, seed=9), r) for r in range(2)]


def _target():
    from taskdist.config import SplitSpec
    from taskdist.specs import TaskSpec

    fields = {f: None for f in TaskSpec.__dataclass_fields__}
    fields.update(id="t", dataset="d", label_map=((0,), (1,), (2,)), label_names=("a", "b", "c"),
                  samples_per_class=24, seed=0)
    if "split" in fields:
        fields["split"] = SplitSpec(0.5, 0.25, 0.25)
    return TaskSpec(**fields)


def _result(source, target, accuracies, setting="finetune"):
    runs = [{"setting": setting, "replicate": r, "source_seed": 0 if source else None, "accuracy": acc,
             "loss": 1 - acc, "epochs": 5, "best_epoch": 3, "stopped": "patience"} for r, acc in enumerate(accuracies)]
    return {"source": source, "target": target, "runs": runs}


def test_table_pairs_replicates_and_ignores_input_order():
    pairs = [_result("a", "b", [0.8, 0.6]), _result("b", "a", [0.5, 0.7])]
    scratch = [_result(None, "a", [0.4, 0.4], "scratch"), _result(None, "b", [0.5, 0.7], "scratch")]
    table = transfer.table(pairs, scratch)
    assert table[list(transfer.COLUMNS[:4])].values.tolist() == [["a", "b", "finetune", 0], ["a", "b", "finetune", 1],
                                                           ["b", "a", "finetune", 0], ["b", "a", "finetune", 1]]
    assert table["gain"].round(6).tolist() == [0.3, -0.1, 0.1, 0.3]
    assert table.equals(transfer.table(pairs[::-1], scratch[::-1]))
    means = transfer.means(table, "finetune")
    assert means.set_index(["source", "target"])["gain"].round(6).to_dict() == {("a", "b"): 0.1, ("b", "a"): 0.2}


def test_table_errors_name_the_pair():
    scratch = [_result(None, "b", [0.5], "scratch")]
    with pytest.raises(ValueError, match="no from-scratch result for target 'a'"):
        transfer.table([_result("b", "a", [0.5])], scratch)
    with pytest.raises(ValueError, match="two transfer results for the pair 'a' -> 'b'"):
        transfer.table([_result("a", "b", [0.5]), _result("a", "b", [0.5])], scratch)
    with pytest.raises(ValueError, match="replicate 1 has no baseline"):
        transfer.table([_result("a", "b", [0.5, 0.6])], scratch)


def test_spearman_brown_and_half_splits():
    assert reliability.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert reliability.spearman_brown(0.0) == 0.0 and math.isnan(reliability.spearman_brown(math.nan))
    assert len(reliability.half_splits(4)) == 3 and len(reliability.half_splits(6)) == 10
    assert len(reliability.half_splits(5)) == 10
    for a, b in reliability.half_splits(6):
        assert sorted(a + b) == list(range(6))


def test_split_half_separates_signal_from_noise():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(200, 1))
    assert reliability.split_half(np.repeat(signal, 4, axis=1)) == pytest.approx(1.0)
    assert abs(reliability.split_half(rng.normal(size=(200, 4)))) < 0.2
    # true-score variance 1, replicate noise variance 4: reliability of the mean of 4 = 1 / (1 + 4/4) = 0.5
    mixed = signal + rng.normal(scale=2.0, size=(200, 4))
    assert reliability.split_half(mixed) == pytest.approx(0.5, abs=0.15)
    assert math.isnan(reliability.split_half(np.ones((5, 1))))


def test_reliability_table_per_setting_over_pairs_and_within_targets():
    rng = np.random.default_rng(1)
    rows = []
    tasks = ["a", "b", "c", "d", "e"]
    truth = {pair: rng.normal() for pair in itertools.permutations(tasks, 2)}
    for (s, t), value in truth.items():
        for setting, noise in (("finetune", 0.01), ("linear", 10.0)):
            for r in range(4):
                rows.append({"source": s, "target": t, "setting": setting, "replicate": r,
                             "gain": value + rng.normal(scale=noise)})
    table = reliability.reliability_table(pd.DataFrame(rows)).set_index("setting")
    assert table.loc["finetune", "over_pairs"] > 0.99 and table.loc["finetune", "within_targets"] > 0.99
    assert table.loc["linear", "over_pairs"] < 0.5
    assert table.loc["finetune", "pairs"] == 20 and table.loc["finetune", "replicates"] == 4
    assert table.loc["finetune", "targets"] == 5


def test_reliability_over_seeds_sees_the_noise_of_training_the_source_network():
    """Each source network adds its own offset per pair: random halves mix both seeds and average it out,
    the split by seed keeps it and says the truth would move with networks trained again."""
    rng = np.random.default_rng(2)
    tasks = ["a", "b", "c", "d", "e", "f"]
    rows = []
    for s, t in itertools.permutations(tasks, 2):
        signal = rng.normal(scale=0.3)
        offsets = rng.normal(scale=1.0, size=2)  # one per network seed
        for r in range(8):
            rows.append({"source": s, "target": t, "setting": "finetune", "replicate": r, "source_seed": r % 2,
                         "gain": signal + offsets[r % 2] + rng.normal(scale=0.05)})
    table = reliability.reliability_table(pd.DataFrame(rows)).set_index("setting")
    assert table.loc["finetune", "seeds"] == 2
    assert table.loc["finetune", "over_pairs"] > 0.6 and table.loc["finetune", "over_seeds"] < 0.4
    one_seed = reliability.reliability_table(pd.DataFrame(rows).assign(source_seed=0))
    assert one_seed["seeds"].tolist() == [1] and math.isnan(one_seed["over_seeds"].iloc[0])
