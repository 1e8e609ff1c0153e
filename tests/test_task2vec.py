"""Tests of Task2Vec: embedding invariances, the variational estimator (taskdist.methods.task2vec), probes
(taskdist.methods.probes), distances (taskdist.methods.distances)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from taskdist.artifacts import matrices, vectors
from taskdist.data.datasets import load
from taskdist.methods import distances, probes
from taskdist.methods import task2vec as t2v
from taskdist.nets.models import ArchSpec, build
from taskdist.nets.train import fit
from taskdist.specs import ImageSpec, ProbeSpec

pytestmark = pytest.mark.usefixtures("one_thread")

PERM = torch.tensor([3, 0, 4, 1, 2])  # relabelling of a 5-class task: class c becomes PERM[c]
FAST = dict(samples=256, batch_size=64)  # Fisher on 256 examples: 4 batches
CONFIGURED = dict(head_epochs=10, head_lr=4e-4, batch_size=64, samples=None, beta=1e-7, seed=0)
"""embed's options without a default (the config's): the values they defaulted to before."""


def opts(**kwargs) -> dict:
    """:data:`CONFIGURED` with ``kwargs`` in place."""
    return CONFIGURED | kwargs


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 digits at 16x16, scaled to [-1, 1]."""
    ds = load("digits", ImageSpec(size=16))
    images = torch.from_numpy(ds.images).float().div_(127.5).sub_(1.0)  # (1797, 1, 16, 16)
    return images, torch.from_numpy(ds.labels).long()


@pytest.fixture(scope="module")
def probe(digits):
    """A 9.4k-weight TaskNet briefly trained on all ten digits (2 epochs, ~77% running train accuracy)."""
    images, labels = digits
    net = build(ArchSpec(widths=(8, 16), convs_per_stage=1, pool=4, hidden=32), in_channels=1, n_classes=10, seed=0)
    fit(net, images, labels, epochs=2, batch_size=64, lr=3e-3, seed=0)
    return net.eval()


@pytest.fixture(scope="module")
def low_high(digits):
    """Two genuinely different 5-class tasks: digits 0-4 and digits 5-9."""
    images, labels = digits
    low = labels < 5
    return (images[low], labels[low]), (images[~low], labels[~low] - 5)


def vec(embedding: dict[str, np.ndarray]) -> np.ndarray:
    return vectors.flat(embedding)


# ---------------------------------------------------------------------------------------
# invariance to relabelling


def test_relabelled_task_mc(probe, low_high):
    """Same images, classes renamed: the head fit is equivariant (zero init), only the MC draws differ.

    Measured: d_sym(a, relabelled a) = 0.004, d_sym(a, digits 5-9) = 0.077 (19x); tolerance 0.02
    and 5x. With another seed (other subset and draws) d_sym(a, a) is ~0.04: the relabelled copy
    is much closer than that.
    """
    (xa, ya), (xb, yb) = low_high
    kw = dict(estimator="mc", seed=0, **FAST)
    a = vec(t2v.embed(probe, xa, ya, 5, **opts(**kw)))
    relabelled = vec(t2v.embed(probe, xa, PERM[ya], 5, **opts(**kw)))
    other = vec(t2v.embed(probe, xb, yb, 5, **opts(**kw)))
    d_same, d_other = distances.symmetric_distance(a, relabelled), distances.symmetric_distance(a, other)
    assert d_same < 0.02
    assert d_other > 5 * d_same


def test_relabelled_task_variational(probe, low_high):
    """The variational noise does not depend on the labels: the embeddings agree up to float rounding.

    Measured: largest relative difference 9e-7, d_sym 2e-14; digits 5-9 are at d_sym 0.024.
    """
    (xa, ya), (xb, yb) = low_high
    kw = dict(estimator="variational", seed=0, beta=1e-5, variational_epochs=4, **FAST)
    a = t2v.embed(probe, xa, ya, 5, **opts(**kw))
    relabelled = t2v.embed(probe, xa, PERM[ya], 5, **opts(**kw))
    other = t2v.embed(probe, xb, yb, 5, **opts(**kw))
    assert list(a) == list(relabelled)
    for layer in a:
        np.testing.assert_allclose(relabelled[layer], a[layer], rtol=1e-3)
    d_same = distances.symmetric_distance(vec(a), vec(relabelled))
    assert d_same < 1e-5
    assert distances.symmetric_distance(vec(a), vec(other)) > max(100 * d_same, 1e-3)


# ---------------------------------------------------------------------------------------
# the variational estimator


class _MaskedBody(nn.Module):
    """The probe's body with each channel of the last conv scaled by a fixed ``mask`` after the conv.

    A masked-out channel influences nothing, not even through the perturbation of later weights
    (zeroing the ``fc`` weights that read it would not do: their perturbation still feeds on it).
    """

    def __init__(self, body: nn.Module, mask: torch.Tensor):
        super().__init__()
        self.features = copy.deepcopy(body.features)
        self.pool = copy.deepcopy(body.pool)
        self.fc = copy.deepcopy(body.fc)
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x) * self.mask.view(1, -1, 1, 1)  # (B, 16, 4, 4)
        return torch.relu(self.fc(self.pool(x).flatten(1)))  # (B, 32)


class _Probe(nn.Module):
    def __init__(self, body: nn.Module, n_features: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(n_features, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_variational_variance_follows_loss_sensitivity(probe, low_high):
    """Unused filters get the prior variance (the trivial embedding); more used, larger embedding.

    Channels of the last conv layer are masked out (0), attenuated (0.1) or kept (1). Measured
    (embedding / trivial embedding, per filter): masked 0.94-0.98, attenuated median 2.6,
    kept median 9.6.
    """
    (xa, ya), _ = low_high
    dead, weak, full = np.arange(0, 16, 3), np.arange(1, 16, 3), np.arange(2, 16, 3)
    mask = torch.ones(16)
    mask[dead], mask[weak] = 0.0, 0.1
    net = _Probe(_MaskedBody(probe.body, mask), 32)
    beta = 1e-5
    emb = t2v.embed(net, xa, ya, 5, **opts(estimator="variational", beta=beta, head_lr=4e-3, seed=0, **FAST))
    trivial = t2v.trivial_embedding(net, estimator="variational", beta=beta)

    layers = {"features.0": 8, "features.3": 16, "fc": 32}  # one value per filter of each Conv2d / Linear
    assert {k: v.shape for k, v in emb.items()} == {k: (n,) for k, n in layers.items()}
    assert {k: v.shape for k, v in trivial.items()} == {k: (n,) for k, n in layers.items()}
    assert all(np.all(np.isfinite(v)) and np.all(v > 0) for v in emb.values())

    ratio = emb["features.3"] / trivial["features.3"]
    np.testing.assert_allclose(ratio[dead], 1.0, rtol=0.1)  # sigma^2 -> lambda^2: the prior
    assert np.median(ratio[full]) > 2 * np.median(ratio[weak])
    assert np.median(ratio[weak]) > 1.2 * np.max(ratio[dead])


def test_variational_optimum_on_a_linear_probe():
    """On a linear body the learnt precision is the closed-form optimum ``1/sigma^2 = F/beta + 1/lambda^2``.

    Body: 4 features = the 4 inputs (identity ``nn.Linear``); the label depends on input 0 only.
    ``F`` is the Monte-Carlo Fisher of the same filters (50 draws per example: exact up to the
    class counts). Measured ratios: 0.98-1.00 (0.99-1.10 after 20 instead of 60 epochs).
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 1, 2, 2, generator=gen)  # (N, 1, 2, 2): 4 inputs
    y = (x.flatten(1)[:, 0] > 0).long()  # (N,)
    body = nn.Sequential(nn.Flatten(), nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        body[1].weight.copy_(torch.eye(4))  # feature j = input j
    net = _Probe(body, 4)
    beta = 1e-2
    kw = dict(head_lr=0.05, head_epochs=20, samples=256, batch_size=64, seed=0)
    emb = t2v.embed(net, x, y, 2, **opts(estimator="variational", beta=beta, variational_epochs=60, **kw))["1"]
    fisher = t2v.embed(net, x, y, 2, **opts(estimator="mc", mc_samples=50, **kw))["1"]
    prior = t2v.trivial_embedding(net, estimator="variational", beta=1e-7)["1"]  # 1 / lambda^2
    assert np.argmax(fisher) == 0 and fisher[0] > 100 * fisher[1:].max()  # only feature 0 is informative
    np.testing.assert_allclose(emb, fisher / beta + prior, rtol=0.1)


# ---------------------------------------------------------------------------------------
# the trivial embedding


def test_trivial_embedding_is_the_prior(probe):
    layers = {"features.0": probe.body.features[0], "features.3": probe.body.features[3], "fc": probe.body.fc}
    var = t2v.trivial_embedding(probe, estimator="variational", beta=1e-7)
    mc = t2v.trivial_embedding(probe, estimator="mc", beta=1e-6)
    assert list(var) == sorted(layers)
    for name, module in layers.items():
        lam2 = module.weight.detach().double().square().mean().item()
        np.testing.assert_allclose(var[name], np.full(module.weight.shape[0], 1 / lam2), rtol=1e-6)
        np.testing.assert_allclose(mc[name], 1e-6 / lam2, rtol=1e-6)
    fixed = t2v.trivial_embedding(probe, estimator="variational", prior_std=0.5, beta=1e-7)
    assert all(np.all(v == 4.0) for v in fixed.values())


# ---------------------------------------------------------------------------------------
# torchvision probes


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    ref = torchvision.models.resnet18().eval()
    path = tmp_path_factory.mktemp("weights") / "resnet18.pt"
    torch.save(ref.state_dict(), path)
    return ref, path


def test_torchvision_probe_rgb_and_gray(resnet18_file):
    ref, path = resnet18_file
    rgb = probes.torchvision_probe("resnet18", path, in_channels=3, n_classes=7)
    gray = probes.torchvision_probe("resnet18", str(path), in_channels=1, n_classes=7)

    assert isinstance(rgb.body.fc, nn.Identity) and isinstance(rgb.head, nn.Linear)
    assert (rgb.head.in_features, rgb.head.out_features) == (512, 7)
    torch.testing.assert_close(rgb.body.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    torch.testing.assert_close(rgb.body.bn1.running_var, ref.bn1.running_var)
    assert gray.body.conv1.weight.shape == (64, 1, 7, 7)
    torch.testing.assert_close(gray.body.conv1.weight, ref.conv1.weight.sum(1, keepdim=True))

    x = torch.randn(2, 3, 32, 32)
    g = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert rgb.body(x).shape == (2, 512) and rgb(x).shape == (2, 7)
        assert gray(g).shape == (2, 7)
        torch.testing.assert_close(rgb.body(x), ref.avgpool(_trunk(ref, x)).flatten(1))
        # summed filters on a gray image == RGB filters on the gray image replicated to 3 channels
        torch.testing.assert_close(gray.body(g), rgb.body(g.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-5)


def _trunk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def test_torchvision_probe_errors(resnet18_file, tmp_path):
    _, path = resnet18_file
    with pytest.raises(ValueError, match="resnet19.*is not a torchvision classification architecture.*did you mean"):
        probes.torchvision_probe("resnet19", None, 3, 10)
    with pytest.raises(ValueError, match=r"in_channels must be one of \(1, 3\), got 2"):
        probes.torchvision_probe("resnet18", path, 2, 10)
    with pytest.raises(FileNotFoundError):
        probes.torchvision_probe("resnet18", tmp_path / "missing.pt", 3, 10)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read weights file"):
        probes.torchvision_probe("resnet18", garbage, 3, 10)
    partial = tmp_path / "partial.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, partial)
    with pytest.raises(ValueError, match="does not match torchvision architecture 'resnet18'"):
        probes.torchvision_probe("resnet18", partial, 3, 10)
    with pytest.raises(ValueError, match="does not match"):  # a resnet18 file is not a resnet34
        probes.torchvision_probe("resnet34", path, 3, 10)
    not_a_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(ValueError, match="must hold a state dict"):
        probes.torchvision_probe("resnet18", not_a_dict, 3, 10)


def test_embed_torchvision_probe_both_estimators():
    """Generic over the body's layers: every Conv2d of a ResNet-18 (fc replaced) gets one value per filter."""
    probe = probes.torchvision_probe("resnet18", None, in_channels=1, n_classes=3, seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 1, 32, 32, generator=gen)
    y = torch.arange(12) % 3
    convs = {n: m.out_channels for n, m in probe.body.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 20  # 17 convs + 3 downsample convs
    trivial = t2v.trivial_embedding(probe, estimator="variational", beta=1e-7)
    for estimator in t2v.FISHER_KINDS:
        emb = t2v.embed(probe, x, y, 3, **opts(estimator=estimator, head_epochs=1, variational_epochs=1, batch_size=12))
        assert list(emb) == sorted(convs) == list(trivial)
        assert {k: v.shape for k, v in emb.items()} == {k: (n,) for k, n in convs.items()}
        assert all(v.dtype == np.float64 and np.all(np.isfinite(v)) and np.all(v >= 0) for v in emb.values())


# ---------------------------------------------------------------------------------------
# distances


def test_symmetric_distance_hand_checked():
    # u = fa/(fa+fb) = (1/2, 0, 1), v = (1/2, 1, 0): cos = (1/4) / (5/4) = 1/5
    assert distances.symmetric_distance([1.0, 0.0, 2.0], [1.0, 1.0, 0.0]) == pytest.approx(0.8)
    # u = (1/4, 3/4), v = (3/4, 1/4): cos = (3/16 + 3/16) / (10/16) = 3/5
    assert distances.symmetric_distance([1.0, 3.0], [3.0, 1.0]) == pytest.approx(0.4)
    # disjoint supports: u = (1, 0), v = (0, 1)
    assert distances.symmetric_distance([2.0, 0.0], [0.0, 5.0]) == pytest.approx(1.0)
    # a filter empty in both tasks is left out (0/0 guard)
    assert distances.symmetric_distance([1.0, 0.0, 3.0], [3.0, 0.0, 1.0]) == pytest.approx(0.4)
    assert distances.symmetric_distance([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert distances.symmetric_distance([0.0, 0.0], [0.0, 1.0]) == 1.0


def test_symmetric_distance_properties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        fa, fb = rng.exponential(size=(2, 30)) * rng.integers(0, 2, size=(2, 30))
        d = distances.symmetric_distance(fa, fb)
        assert 0.0 <= d <= 1.0
        assert d == pytest.approx(distances.symmetric_distance(fb, fa), abs=1e-12)
        assert distances.symmetric_distance(fa, fa) == pytest.approx(0.0, abs=1e-12)
        assert distances.symmetric_distance(fa, 3.0 * fa) == pytest.approx(0.0, abs=1e-12)  # blind to a global scale


def test_asymmetric_distance_hand_checked():
    fa, fb, t0 = [1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]
    # d_sym(a, t0): u = (1/2, 0, 2/3), v = (1/2, 1, 1/3): cos = (17/36) / (5/6 * 7/6) = 17/35
    assert distances.symmetric_distance(fa, t0) == pytest.approx(18 / 35)
    assert distances.asymmetric_distance(fa, fb, t0, alpha=0.15) == pytest.approx(0.8 - 0.15 * 18 / 35)
    assert distances.asymmetric_distance(fa, fb, t0, alpha=0.0) == pytest.approx(0.8)
    # asymmetric: the trivial term is the source's
    assert distances.asymmetric_distance(fb, fa, t0) == pytest.approx(0.8 - 0.15 * distances.symmetric_distance(fb, t0))
    assert distances.asymmetric_distance(fb, fa, t0) != pytest.approx(distances.asymmetric_distance(fa, fb, t0))


def test_distance_matrices():
    emb = {"a": np.array([1.0, 0.0, 2.0]), "b": np.array([1.0, 1.0, 0.0]), "c": np.array([0.5, 2.0, 1.0])}
    t0 = np.ones(3)
    sym, asym = distances.task2vec_matrices(emb, t0, alpha=0.2)
    assert list(sym.columns) == ["source", "target", "value"] == list(asym.columns)
    assert list(zip(sym.source, sym.target, strict=True)) == [(s, t) for s in "abc" for t in "abc"]
    square = matrices.to_square(sym)
    np.testing.assert_array_equal(np.diag(square.to_numpy()), 0.0)
    np.testing.assert_allclose(square.to_numpy(), square.to_numpy().T)
    for row in asym.itertuples():
        expected = distances.asymmetric_distance(emb[row.source], emb[row.target], t0, alpha=0.2)
        assert row.value == pytest.approx(expected)
    assert asym.set_index(["source", "target"]).loc[("a", "a"), "value"] == pytest.approx(
        -0.2 * distances.symmetric_distance(emb["a"], t0)
    )
    sym_only, none = distances.task2vec_matrices(emb, None, alpha=0.15)
    assert none is None
    pd.testing.assert_frame_equal(sym_only, sym)
    # per-layer dicts are flattened in sorted layer order
    as_dicts = {k: {"z": v[:1], "a": v[1:]} for k, v in emb.items()}
    sym_d, _ = distances.task2vec_matrices(as_dicts, None, alpha=0.15)
    np.testing.assert_allclose(sym_d.value, sym.value)


def test_distance_errors():
    with pytest.raises(ValueError, match="same shape"):
        distances.symmetric_distance([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-negative"):
        distances.symmetric_distance([1.0, -2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        distances.symmetric_distance([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        distances.symmetric_distance([], [])
    with pytest.raises(ValueError, match="alpha"):
        distances.asymmetric_distance([1.0], [1.0], [1.0], alpha=-0.1)
    with pytest.raises(ValueError, match="same shape"):
        distances.asymmetric_distance([1.0, 1.0], [1.0, 2.0], [1.0], alpha=0.1)
    with pytest.raises(ValueError, match="alpha"):
        distances.task2vec_matrices({"a": np.ones(2)}, np.ones(2), alpha=-1.0)
    with pytest.raises(ValueError, match="'b' has 3 values"):
        distances.task2vec_matrices({"a": np.ones(2), "b": np.ones(3)}, None, alpha=0.1)
    with pytest.raises(ValueError, match="trivial embedding has 3 values"):
        distances.task2vec_matrices({"a": np.ones(2)}, np.ones(3), alpha=0.1)
    with pytest.raises(ValueError, match="other layers"):
        distances.task2vec_matrices({"a": {"x": np.ones(2)}, "b": {"y": np.ones(2)}}, None, alpha=0.1)


# ---------------------------------------------------------------------------------------
# input validation


def test_embed_validates_inputs(probe, digits):
    images, labels = digits
    x, y = images[:20], labels[:20] % 2
    with pytest.raises(ValueError, match="estimator must be one of"):
        t2v.embed(probe, x, y, 2, **opts(estimator="exact"))
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        t2v.embed(probe, x, y * 0, 1, **opts(estimator="mc"))
    with pytest.raises(ValueError, match="non-empty"):
        t2v.embed(probe, x[:0], y[:0], 2, **opts(estimator="mc"))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) with N = 20"):
        t2v.embed(probe, x, y[:10], 2, **opts(estimator="mc"))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        t2v.embed(probe, x, labels[:20], 2, **opts(estimator="mc"))
    with pytest.raises(ValueError, match="beta must be > 0"):
        t2v.embed(probe, x, y, 2, **opts(estimator="variational", beta=0.0))
    with pytest.raises(ValueError, match="samples must be >= 1"):
        t2v.embed(probe, x, y, 2, **opts(estimator="variational", samples=0))
    with pytest.raises(TypeError, match="labels must be an integer"):
        t2v.embed(probe, x, y.float(), 2, **opts(estimator="mc"))
    with pytest.raises(TypeError, match="must have a `body`"):
        t2v.embed(nn.Linear(3, 2), x, y, 2, **opts(estimator="mc"))
    with pytest.raises(ValueError, match="estimator must be one of"):
        t2v.trivial_embedding(probe, estimator="montecarlo", beta=1e-7)  # the name before "mc"


def test_embed_leaves_probe_untouched_and_accepts_arrays(probe, digits):
    images, labels = digits
    before = copy.deepcopy(probe.state_dict())
    grads = {n: p.requires_grad for n, p in probe.named_parameters()}
    emb = t2v.embed(probe, images[:64].numpy(), (labels[:64] % 2).numpy(), 2, **opts(estimator="mc", head_epochs=1))
    assert list(emb) == ["fc", "features.0", "features.3"]
    for name, tensor in probe.state_dict().items():
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)
    assert {n: p.requires_grad for n, p in probe.named_parameters()} == grads
    assert probe.head.out_features == 10


def test_probe_spec():
    with pytest.raises(ValueError, match="probe kind"):
        probes.probe_from_spec(ProbeSpec("imagenet", None, None), in_channels=1)
    with pytest.raises(ValueError, match="needs an architecture"):
        probes.probe_from_spec(ProbeSpec("torchvision", None, None), in_channels=1)
    with pytest.raises(ValueError, match="must be None"):
        probes.probe_from_spec(ProbeSpec("trained", "resnet18", None), in_channels=1, checkpoint={})
    probe = probes.probe_from_spec(ProbeSpec("torchvision", "resnet18", None), in_channels=1)
    assert probe.body.conv1.in_channels == 1
    with pytest.raises(ValueError, match="needs the checkpoint"):
        probes.probe_from_spec(ProbeSpec("trained", None, None), in_channels=1)
    with pytest.raises(TypeError, match="must be a taskdist.specs.ProbeSpec"):
        probes.probe_from_spec({"kind": "trained"}, in_channels=1)


def test_probe_from_a_trained_checkpoint(probe):
    """The config's probe spec and a workflow checkpoint give the TaskNet."""
    from taskdist.specs import to_params

    checkpoint = {"state_dict": probe.state_dict(), "arch": to_params(probe.spec), "in_channels": 1, "n_classes": 10}
    spec = ProbeSpec("trained", None, None)
    net = probes.probe_from_spec(spec, in_channels=1, checkpoint=checkpoint)
    for name, tensor in probe.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], tensor)
    with pytest.raises(ValueError, match="takes 1 channels, the images have 3"):
        probes.probe_from_spec(spec, in_channels=3, checkpoint=checkpoint)


def test_distance_is_finite_on_real_embeddings(probe, low_high):
    """The trivial embedding and real Monte-Carlo embeddings give finite asymmetric distances."""
    (xa, ya), (xb, yb) = low_high
    kw = dict(estimator="mc", head_epochs=2, samples=128)
    emb = {"low": t2v.embed(probe, xa, ya, 5, **opts(**kw)), "high": t2v.embed(probe, xb, yb, 5, **opts(**kw))}
    sym, asym = distances.task2vec_matrices(emb, t2v.trivial_embedding(probe, estimator="mc", beta=1e-7), alpha=0.15)
    assert np.all(np.isfinite(asym.value)) and math.isfinite(sym.value.sum())
    assert sym.value.max() <= 1.0 and asym.value.min() >= -0.15
