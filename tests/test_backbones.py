"""Torchvision architectures as task networks: building, the body / head split, input adaptation, weights, the
config's checks, checkpoints, Fisher and FTD, and the workflow's pair jobs through to the FTD matrix."""

import dataclasses
import logging
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from torch import nn
from wf import FTD, shared_run, snakemake, tiny_config, write_config

from taskdist import config, progress
from taskdist.artifacts import checkpoint, vectors
from taskdist.config import ConfigError
from taskdist.methods import distances, fisher
from taskdist.methods.persample import HookEngine
from taskdist.nets import backbones, models
from taskdist.specs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec, BackboneSpec, NetworkSpec, from_params, to_params

SMALLEST = {  # the smallest image side each listed architecture takes (a forward pass of a 3-channel image)
    "resnet18": 1,
    "resnet34": 1,
    "resnet50": 1,
    "vgg16": 32,  # five 2x2 max pools
    "densenet121": 29,  # a 7x7/2 conv, a 3x3/2 max pool and three 2x2/2 average pools
    "mobilenet_v3_small": 1,
    "efficientnet_b0": 1,
}


def spec(arch: str = "resnet18", weights: str | None = None) -> BackboneSpec:
    return BackboneSpec(arch, weights, IMAGENET_MEAN, IMAGENET_STD)


def images(n: int, size: int, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [-1, 1]


@pytest.mark.parametrize("arch", sorted(SMALLEST))
def test_every_listed_architecture_builds_with_a_body_and_its_classifier_as_head(arch, one_thread):
    size = max(SMALLEST[arch], 8)
    net = models.build(spec(arch), in_channels=1, n_classes=3, seed=0).eval()
    x = images(2, size)
    with torch.no_grad():
        z = net.body(x)  # (2, D)
        out = net(x)  # (2, 3)
    assert z.shape == (2, net.body.out_features) and out.shape == (2, 3) and torch.isfinite(out).all()
    assert isinstance(net.head, nn.Linear) and net.head.in_features == net.body.out_features
    assert net.n_classes == 3 and net.in_channels == 1 and net.spec == spec(arch)
    fresh = torchvision.models.get_model(arch, weights=None)
    classifier, linear = backbones.final_linear(fresh, arch)
    assert linear.in_features == net.body.out_features
    assert isinstance(net.body.model.get_submodule(classifier), nn.Identity)  # the classifier left the body
    assert not any(m.out_features == 1000 for m in net.modules() if isinstance(m, nn.Linear))
    assert {"adapter.mean", "adapter.std"} <= dict(net.body.named_buffers()).keys()
    assert not any(name.startswith("adapter") for name, _ in net.body.named_parameters())  # Fisher never sees them


@pytest.mark.parametrize("arch", sorted(SMALLEST))
def test_the_smallest_image_size_is_where_a_forward_pass_starts_to_work(arch):
    smallest = SMALLEST[arch]
    assert backbones.size_error(arch, smallest) is None
    if smallest > 1:
        assert backbones.size_error(arch, smallest - 1)
        assert backbones.smallest_size(arch, smallest - 4) == smallest


def test_a_gray_image_gives_the_response_of_its_rgb_replica(one_thread):
    gray = models.build(spec("resnet18"), in_channels=1, n_classes=4, seed=3).eval()
    rgb = models.build(spec("resnet18"), in_channels=3, n_classes=4, seed=3).eval()
    x = images(3, 16)
    with torch.no_grad():
        assert torch.allclose(gray(x), rgb(x.expand(-1, 3, -1, -1)), atol=1e-6)
        assert torch.equal(gray.body.adapter(x), rgb.body.adapter(x.repeat(1, 3, 1, 1)))
    # [-1, 1] -> [0, 1] -> ImageNet normalisation
    white = gray.body.adapter(torch.ones(1, 1, 2, 2))  # (1, 3, 2, 2)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(white[0, :, 0, 0], expected)


def test_the_seed_decides_the_weights_and_a_new_head_keeps_the_body(one_thread):
    a = models.build(spec("mobilenet_v3_small"), 1, 3, seed=1)
    b = models.build(spec("mobilenet_v3_small"), 1, 3, seed=1)
    c = models.build(spec("mobilenet_v3_small"), 1, 3, seed=2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.head.weight, c.head.weight)
    new = a.with_new_head(5, seed=9)
    assert new.n_classes == 5 and a.n_classes == 3 and new.spec == a.spec
    assert all(torch.equal(v, new.body.state_dict()[k]) for k, v in a.body.state_dict().items())
    assert new.body.model is not a.body.model  # shares nothing
    assert torch.equal(new.head.weight, a.with_new_head(5, seed=9).head.weight)
    a.eval().requires_grad_(False)
    again = a.with_new_head(2, seed=0)  # a new network, as TaskNet.with_new_head makes one
    assert again.training and all(p.requires_grad for p in again.parameters())


def test_a_last_batch_of_one_example_joins_the_one_before_for_a_batchnorm_network(one_thread):
    """A ResNet's last stage is 1 x 1 on small images: a batch of one cannot be normalised and training stopped."""
    from taskdist.nets import train

    order = torch.arange(33)
    cnn = models.build(ArchSpec((4,), 1, 1, 4), 1, 2, seed=0)
    resnet = models.build(spec(), 1, 2, seed=0)
    assert not train.has_batchnorm(cnn) and train.has_batchnorm(resnet)
    assert [len(b) for b in train.batches(order, 16, False)] == [16, 16, 1]  # the small CNN: as before
    assert [len(b) for b in train.batches(order, 16, True)] == [16, 17]
    assert torch.equal(torch.cat(train.batches(order, 16, True)), order)
    x, y = images(33, 8), torch.arange(33) % 2
    history = train.fit(resnet, x, y, epochs=1, batch_size=16, lr=1e-3, seed=0)
    assert np.isfinite(history[0]["loss"])


def test_specs_round_trip_through_params_and_a_cnn_keeps_its_params():
    backbone = spec("resnet18", "w.pth")
    assert from_params(NetworkSpec, to_params(backbone)) == backbone
    cnn = ArchSpec((4, 8), 1, 2, 8)
    assert from_params(NetworkSpec, to_params(cnn)) == cnn
    assert to_params(cnn) == {"widths": (4, 8), "convs_per_stage": 1, "pool": 2, "hidden": 8}
    with pytest.raises(ValueError, match="cannot tell"):
        from_params(NetworkSpec, {"arch": "resnet18"})


def test_a_weights_file_loads_into_the_body_whatever_its_number_of_classes(tmp_path, one_thread):
    with torch.random.fork_rng():
        torch.manual_seed(5)
        source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    exp = _load(tmp_path, {"arch": "resnet18", "weights": str(path)})
    assert exp.network == spec("resnet18", str(path))
    net = models.build(exp.network, in_channels=1, n_classes=2, seed=0)
    body = net.body.model.state_dict()
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    assert body.keys() == expected.keys()
    assert all(torch.equal(body[k], v) for k, v in expected.items())
    assert net.head.out_features == 2

    torch.save({"not": "a state dict"}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="must hold a state dict"):
        models.build(spec("resnet18", str(tmp_path / "bad.pth")), 1, 2, seed=0)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tmp_path / "mobile.pth")
    with pytest.raises(ValueError, match="does not match torchvision architecture 'resnet18'"):
        models.build(spec("resnet18", str(tmp_path / "mobile.pth")), 1, 2, seed=0)


def _load(tmp_path, network: dict, **sections):
    cfg = tiny_config()
    cfg["network"] = network
    cfg.update(sections)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config.load(path)


def test_a_torchvision_weights_name_is_resolved_with_its_own_normalisation(tmp_path):
    expected = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    for name in ("DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        exp = _load(tmp_path, {"arch": "resnet18", "weights": name})
        assert exp.network.weights == "ResNet18_Weights.IMAGENET1K_V1"
        assert exp.network.mean == tuple(expected.mean) and exp.network.std == tuple(expected.std)
        assert backbones.weights_kind(exp.network.weights) == "torchvision"
    exp = _load(tmp_path, {"arch": "efficientnet_b0", "weights": "DEFAULT"})
    assert exp.network.weights.startswith("EfficientNet_B0_Weights.")
    assert backbones.weights_kind(None) is None and backbones.weights_kind("w/resnet18.pth") == "file"


def test_random_weights_take_the_configured_normalisation_or_imagenets(tmp_path):
    exp = _load(tmp_path, {"arch": "mobilenet_v3_small"})
    assert exp.network == BackboneSpec("mobilenet_v3_small", None, IMAGENET_MEAN, IMAGENET_STD)
    exp = _load(tmp_path, {"arch": "resnet18", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    assert exp.network.mean == (0.5, 0.5, 0.5) and exp.network.std == (0.25, 0.25, 0.25)


def test_the_small_cnn_is_configured_as_before(tmp_path):
    cnn = tiny_config()["network"]
    assert _load(tmp_path, dict(cnn)).network == from_params(ArchSpec, cnn)
    assert _load(tmp_path, {"arch": "cnn", **cnn}).network == from_params(ArchSpec, cnn)
    assert _load(tmp_path, {}).network == from_params(ArchSpec, config.defaults("network"))
    assert config.defaults("network") == {"widths": [16, 32], "convs_per_stage": 1, "pool": 4, "hidden": 64}


@pytest.mark.parametrize(
    "network, image, match",
    [
        ({"arch": "resnet19"}, None, r"network\.arch: 'resnet19' is not a torchvision .*did you mean resnet18"),
        ({"arch": "resnet18", "widths": [4], "hidden": 8}, None, r"network: \['widths', 'hidden'\] describe the small"),
        ({"widths": [4], "weights": "w.pth"}, None, r"network\.weights: \['weights'\] apply to a torchvision arch"),
        ({"arch": "cnn", "mean": [0, 0, 0]}, None, r"network\.mean: \['mean'\] apply to a torchvision arch"),
        ({"arch": "resnet18", "weights": "missing/w.pth"}, None, r"network\.weights: cannot read the weights file"),
        ({"arch": "resnet18", "weights": "IMAGENET1K_V9"}, None, r"no torchvision weights 'IMAGENET1K_V9'.*V1"),
        ({"arch": "resnet18", "weights": "VGG16_Weights.IMAGENET1K_V1"}, None, r"are not weights of 'resnet18'"),
        ({"arch": "resnet18", "weights": "DEFAULT", "std": [1, 1, 1]}, None, r"network\.std: .*their own mean"),
        ({"arch": "vgg16"}, 16, r"image\.size: 'vgg16' cannot take 16x16 images .*the smallest it takes is 32"),
        ({"arch": "densenet121"}, 28, r"image\.size: 'densenet121' .*the smallest it takes is 29"),
    ],
)
def test_config_errors_name_the_key_and_what_is_expected(tmp_path, network, image, match):
    sections = {"image": {"size": image, "channels": 1}} if image else {}
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, network, **sections)


def test_the_consistency_network_may_be_a_backbone_or_overlay_one(tmp_path):
    exp = _load(tmp_path, tiny_config()["network"], consistency={"seeds": 1, "network": {"arch": "resnet18"}})
    assert exp.consistency.network == spec("resnet18")
    exp = _load(tmp_path, {"arch": "resnet18"}, consistency={"seeds": 1, "network": {"arch": "cnn", "hidden": 8}})
    assert exp.consistency.network == from_params(ArchSpec, {**config.defaults("network"), "hidden": 8})
    exp = _load(tmp_path, {"arch": "resnet18"}, consistency={"seeds": 1, "network": {"mean": [0.5, 0.5, 0.5]}})
    assert exp.consistency.network == BackboneSpec("resnet18", None, (0.5, 0.5, 0.5), IMAGENET_STD)
    with pytest.raises(ConfigError, match=r"consistency\.network: \['widths'\] describe the small CNN"):
        _load(tmp_path, {"arch": "resnet18"}, consistency={"seeds": 1, "network": {"widths": [4]}})


def test_a_checkpoint_rebuilds_the_network_without_its_weights_file(tmp_path, one_thread):
    path = tmp_path / "w.pth"
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=7).state_dict(), path)
    net = models.build(spec("mobilenet_v3_small", str(path)), in_channels=1, n_classes=3, seed=0).eval()
    ckpt = checkpoint.make(net, {"id": "t"}, {"test_accuracy": 0.5}, [])
    assert ckpt["network"] == "torchvision" and ckpt["arch"] == to_params(net.spec)
    checkpoint.write(ckpt, tmp_path / "t.pt")
    path.unlink()  # the checkpoint holds every weight
    loaded = checkpoint.load_network(checkpoint.read(tmp_path / "t.pt"), torch.device("cpu"))
    assert isinstance(loaded, models.BackboneNet) and not loaded.training and loaded.spec == net.spec
    x = images(4, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    cnn = models.build(ArchSpec((4,), 1, 2, 8), 1, 3, seed=0)
    assert "network" not in checkpoint.make(cnn, {"id": "t"}, {}, [])  # a CNN's checkpoint is as before
    assert isinstance(checkpoint.load_network(checkpoint.make(cnn, {"id": "t"}, {}, []), "cpu"), models.TaskNet)


def test_filter_fisher_of_a_resnet_covers_every_layer_and_ftd_lies_in_0_1(one_thread):
    net = models.build(spec("resnet18"), in_channels=1, n_classes=3, seed=0)
    HookEngine(net).close()  # BatchNorm is covered: the fast path
    net.head.requires_grad_(False)
    x_a, x_b = images(6, 16, seed=1), images(6, 16, seed=2).clamp(-1, 0)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    diag = {
        name: fisher.fisher_diagonal(net, x, y, estimator="exact", granularity="filter", batch_size=3)
        for name, x in (("a", x_a), ("b", x_b))
    }
    params = dict(net.body.named_parameters())
    assert net.training  # modes restored
    assert set(diag["a"]) == {f"body.{n}" for n in params}
    for name, p in params.items():
        value = diag["a"][f"body.{name}"]
        assert value.shape == (p.shape[0],) and torch.isfinite(value).all() and (value >= 0).all(), name
    bn = diag["a"]["body.model.bn1.weight"]
    assert bn.shape == (64,) and bn.sum() > 0
    fa, fb = (vectors.flat({k: v.double().numpy() for k, v in diag[t].items()}) for t in ("a", "b"))
    d = distances.fisher_task_distance(fa, fb)
    assert 0 < d <= 1


def test_a_resnet_fisher_logs_its_progress_per_batch_without_changing_its_value(one_thread, caplog, monkeypatch):
    """Acceptance of the job's progress lines: with the default 10 s interval at least one line per 10 s of work
    and a last line; with no interval one line per batch, each counting the samples done of the whole."""
    net = models.build(spec("resnet18"), in_channels=1, n_classes=3, seed=0)
    net.head.requires_grad_(False)
    x, y = images(10, 16, seed=4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    caplog.set_level(logging.INFO, logger="taskdist.methods.fisher")

    def run():
        caplog.clear()
        began = time.monotonic()
        diag = fisher.fisher_diagonal(net, x, y, estimator="exact", granularity="filter", batch_size=4)
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fisher: ")]
        return diag, lines, time.monotonic() - began

    quiet, lines, seconds = run()
    assert len(lines) - 1 >= int(seconds // progress.EVERY) and lines[-1].startswith("fisher: 10/10 samples in ")
    monkeypatch.setattr(progress, "EVERY", 0.0)
    loud, lines, _ = run()
    assert [line.split(" samples")[0] for line in lines] == ["fisher: 4/10", "fisher: 8/10", "fisher: 10/10",
                                                             "fisher: 10/10"]  # one line per batch of 4, then the last
    assert all(" samples/s" in line for line in lines) and " in " in lines[-1]
    assert all(torch.equal(quiet[k], loud[k]) for k in quiet)


def test_fisher_runs_batchnorm_on_running_statistics():
    """In eval mode a sample's Fisher does not depend on the other samples of its batch."""
    net = models.build(spec("mobilenet_v3_small"), in_channels=1, n_classes=2, seed=0)
    net.head.requires_grad_(False)
    x, y = images(4, 8, seed=3), torch.tensor([0, 1, 0, 1])
    whole = fisher.fisher_diagonal(net, x, y, estimator="exact", granularity="filter", batch_size=4)
    single = fisher.fisher_diagonal(net, x, y, estimator="exact", granularity="filter", batch_size=1)
    assert all(torch.allclose(whole[k], single[k], rtol=1e-4, atol=1e-12) for k in whole)


def calibrated(arch: str, size: int, n_classes: int = 2) -> models.HeadedNet:
    """``arch`` (or the small CNN) for 3-channel images, random weights, BatchNorm statistics of two random
    batches (as a trained network has them: with the initial ones a random MobileNet's or EfficientNet's gradients
    underflow to 0 in places), in eval mode."""
    network = ArchSpec((4, 8), 1, 2, 8) if arch == "cnn" else spec(arch)
    net = models.build(network, in_channels=3, n_classes=n_classes, seed=0)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a cumulative average
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)  # dropout and stochastic depth in training mode
        for seed in (5, 6):
            net(images(8, size, channels=3, seed=seed))
    return net.eval()


HEAVY = {"vgg16"}  # 134 M parameters: the torch.func reference takes tens of seconds on one thread


@pytest.mark.parametrize(
    "arch", [pytest.param(a, marks=pytest.mark.heavy) if a in HEAVY else a for a in ["cnn", *sorted(SMALLEST)]]
)
def test_every_listed_architecture_takes_the_hooks_and_matches_the_func_engine(arch, one_thread, caplog):
    """Acceptance (issue 24): each parameter's Fisher diagonal from the hook engine equals the torch.func engine's
    (relative error <= 1e-5) for every estimator and granularity, and fisher_diagonal never falls back."""
    size = max(SMALLEST.get(arch, 1), 16)  # 16 px: every kind of layer, both forms of the convolutions' squares
    # In float64: the engines sum in different orders, and in float32 that alone moves a squeeze-and-excitation
    # weight of EfficientNet by 1.5e-5 relative on some CPUs (a test of rounding, not of the engine).
    net = calibrated(arch, size).double()
    x, y = images(2, size, channels=3, seed=1).double(), torch.tensor([0, 1])
    kwargs = dict(batch_size=2, seed=2, mc_samples=1, device="cpu")
    caplog.set_level(logging.INFO, logger="taskdist.methods.fisher")
    for estimator in fisher.ESTIMATORS:
        ref = fisher._fisher_diagonal(
            net, x, y, estimator=estimator, granularity="parameter", engine="func", **kwargs
        )
        for granularity in fisher.GRANULARITIES:
            got = fisher.fisher_diagonal(net, x, y, estimator=estimator, granularity=granularity, **kwargs)
            assert got.keys() == ref.keys() == {n for n, _ in net.named_parameters()}
            for name, value in ref.items():
                value = value.double()
                if granularity == "filter":
                    value = value.reshape(value.shape[0], -1).mean(dim=1)
                assert value.norm() > 0, f"degenerate test: the Fisher of {name} is 0"
                err = float((got[name].double() - value).norm() / value.norm())
                assert err <= 1e-5, f"{arch} {estimator} {granularity} {name}: relative error {err:.1e}"
    assert not [r.getMessage() for r in caplog.records if "FuncEngine" in r.getMessage()]
    engine = HookEngine(net)  # the engine fisher_diagonal chose: no module is left to the torch.func engine
    engine.close()
    assert {m for m, _, _ in engine.layers} == {m for m in net.modules() if list(m.parameters(recurse=False))}


# -- acceptance: the workflow's pair jobs with a torchvision backbone, through to the FTD matrix


def backbone_config() -> dict:
    cfg = tiny_config()
    cfg["tasks"] = cfg["tasks"][:2]  # low, high
    cfg["image"] = {"size": 12, "channels": 1}
    cfg["network"] = {"arch": "resnet18"}
    cfg["train"] = {"max_epochs": 1, "patience": None, "batch_size": 16, "lr": 0.001}
    # few samples: the job is what is tested here, the Fisher's values are tested above
    cfg["fisher"] = {
        "samples": 4,
        "batch_size": 4,
        "estimator": "empirical",
        "granularity": "filter",
        "head": {"max_iter": 50},
    }
    cfg["distances"] = {"methods": ["ftd"]}
    cfg["nas"] = {"base_tasks": [], "targets": []}
    for key in ("tanas", "transfer_bound", "coupled"):
        cfg.pop(key, None)
    return cfg


@shared_run
def backbone_run(workdir):
    """The pair jobs of a two-task config with a random ResNet-18 on 12 px images, to the FTD matrix."""
    write_config(workdir, backbone_config())
    snakemake(workdir, "--cores", "2", FTD)
    return workdir


def test_a_weights_file_is_an_input_of_the_jobs_that_build_networks_from_it(tmp_path):
    cfg = backbone_config()
    cfg["network"] = {"arch": "mobilenet_v3_small", "weights": "w.pth"}
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=3).state_dict(), tmp_path / "w.pth")
    write_config(tmp_path, cfg)
    text = snakemake(tmp_path, "-n", "--cores", "1", "-p", "results/models/low.pt", "results/transfer.parquet").stdout
    jobs = [block for block in text.split("\n\n") if "rule train_task" in block or "rule scratch" in block]
    assert len(jobs) == 4 and all("w.pth" in block for block in jobs)


def test_workflow_with_a_torchvision_backbone_computes_the_ftd_matrix(backbone_run):
    matrix = pd.read_parquet(backbone_run / FTD)
    off = matrix[matrix["source"] != matrix["target"]]
    assert sorted(zip(off["source"], off["target"], strict=True)) == [("high", "low"), ("low", "high")]
    assert np.isfinite(off["value"]).all() and ((off["value"] >= 0) & (off["value"] <= 1)).all()
    for task in ("low", "high"):
        ckpt = checkpoint.read(backbone_run / "results" / "models" / f"{task}.pt")
        assert ckpt["network"] == "torchvision"
        assert from_params(BackboneSpec, ckpt["arch"]) == spec("resnet18")
        assert any(k.startswith("body.model.layer4.") for k in ckpt["state_dict"])
    table = pd.read_parquet(backbone_run / "results" / "fisher" / "low" / "high.parquet")
    assert "model.bn1.weight" in set(table["layer"])


def test_transfer_fine_tunes_and_fits_a_linear_head_on_a_backbone(one_thread):
    from test_transfer import _dataset, _spec, _table, _target

    from taskdist.evaluation import transfer

    table = _table()
    dataset, settings = _dataset(table), _spec(replicates=1)
    settings = dataclasses.replace(settings, finetune=dataclasses.replace(settings.finetune, max_epochs=2))
    source = checkpoint.make(models.build(spec("mobilenet_v3_small"), 1, 3, seed=1), {"id": "s"}, {}, [])
    cpu = torch.device("cpu")
    runs = transfer.run([source], _target(), dataset, table, None, settings, seed=9, device=cpu)
    scratch = transfer.run(None, _target(), dataset, table, spec("mobilenet_v3_small"), settings, seed=9, device=cpu)
    assert {r["setting"] for r in runs} == {"finetune", "linear"} and {r["setting"] for r in scratch} == {"scratch"}
    assert all(0 <= r["accuracy"] <= 1 and np.isfinite(r["loss"]) for r in runs + scratch)
