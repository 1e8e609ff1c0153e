"""Tests of taskdist.methods.fisher against a brute-force per-sample loop."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from taskdist.artifacts.vectors import flat as flatten
from taskdist.methods import persample
from taskdist.methods.fisher import ESTIMATORS, GRANULARITIES, _fisher_diagonal, _logit_vectors, fisher_diagonal
from taskdist.methods.persample import Unsupported
from taskdist.nets.models import ArchSpec, TaskNet, build

pytestmark = pytest.mark.usefixtures("one_thread")

N_SAMPLES, N_CLASSES = 12, 3
RTOL = 1e-5


# ---------------------------------------------------------------------------------------
# fixtures and the brute-force reference


def _reinit(model: nn.Module, seed: int, scale: float = 0.5) -> nn.Module:
    """Random weights large enough that no ReLU unit is dead on the test inputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen))
    return model


def tiny_net(seed: int = 1) -> TaskNet:
    """Tiny TaskNet, no dead ReLU on the test inputs, max class probability ~0.4-0.95."""
    spec = ArchSpec(widths=(3, 4), convs_per_stage=1, pool=4, hidden=5)
    net = _reinit(build(spec, in_channels=1, n_classes=N_CLASSES, seed=0), seed)
    with torch.no_grad():
        net.head.weight.mul_(0.3)
        net.head.bias.mul_(0.3)
    return net


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    images = torch.randn((N_SAMPLES, 1, 8, 8), generator=gen)  # (N, 1, 8, 8)
    labels = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=gen)  # (N,)
    return images, labels


def mc_labels(model: nn.Module, images: torch.Tensor, seed: int, k: int) -> torch.Tensor:
    """The documented mc sampling scheme, replicated sample by sample: (N, k) labels."""
    u = torch.rand((images.shape[0], k), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    draws = []
    with torch.no_grad():
        for i in range(images.shape[0]):
            p = torch.softmax(model(images[i : i + 1])[0].double(), dim=-1)  # (C,)
            cdf = torch.cumsum(p, dim=0)  # (C,)
            draws.append([min(int((cdf <= u[i, j]).sum()), p.shape[0] - 1) for j in range(k)])
    return torch.tensor(draws)


def brute_force(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    estimator: str,
    granularity: str = "parameter",
    seed: int = 0,
    mc_samples: int = 1,
) -> dict[str, torch.Tensor]:
    """``(1/N) sum_i E_y[g_i(y)^2]`` with one ``autograd.grad`` per sample and label."""
    was_training = model.training
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    acc = {n: torch.zeros(p.shape, dtype=torch.float64) for n, p in named}
    draws = mc_labels(model, images, seed, mc_samples) if estimator == "mc" else None
    for i in range(images.shape[0]):
        log_p = torch.log_softmax(model(images[i : i + 1]), dim=-1)[0]  # (C,)
        if estimator == "empirical":
            terms = [(int(labels[i]), 1.0)]
        elif estimator == "mc":
            terms = [(int(y), 1.0 / mc_samples) for y in draws[i]]
        else:
            terms = [(c, float(log_p[c].detach().exp())) for c in range(log_p.shape[0])]
        for y, weight in terms:
            grads = torch.autograd.grad(log_p[y], [p for _, p in named], retain_graph=True, allow_unused=True)
            for (n, _), g in zip(named, grads, strict=True):
                if g is not None:
                    acc[n] += weight * g.double() ** 2
    model.train(was_training)
    out = {}
    for n, a in acc.items():
        diag = a / images.shape[0]
        if granularity == "filter":
            diag = diag.reshape(diag.shape[0], -1).mean(dim=1)
        out[n] = diag.float()
    return out


def assert_fisher_close(
    got: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], rtol: float = RTOL
) -> None:
    assert sorted(got) == sorted(ref)
    for name in ref:
        assert got[name].shape == ref[name].shape, name
        assert got[name].dtype == torch.float32 and got[name].device.type == "cpu", name
        norm = ref[name].double().norm()
        assert norm > 0, f"degenerate test: reference Fisher of {name} is zero"
        err = float((got[name].double() - ref[name].double()).norm() / norm)
        assert err <= rtol, f"{name}: relative error {err:.2e}"


# ---------------------------------------------------------------------------------------
# correctness against the brute force


@pytest.mark.parametrize("engine", ["auto", "func"])
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_matches_brute_force(data, estimator: str, granularity: str, engine: str) -> None:
    images, labels = data
    net = tiny_net()
    mc_samples = 5 if estimator == "mc" else 1  # 5 >= C draws: grouped by class
    kwargs = dict(estimator=estimator, granularity=granularity, batch_size=5, seed=7, mc_samples=mc_samples)
    got = _fisher_diagonal(net, images, labels, device="cpu", engine=engine, **kwargs)
    ref = brute_force(net, images, labels, estimator, granularity, seed=7, mc_samples=mc_samples)
    assert_fisher_close(got, ref)


def test_task_net_takes_the_fast_path(data) -> None:
    images, labels = data
    net = tiny_net()
    got = _fisher_diagonal(
        net,
        images,
        labels,
        estimator="empirical",
        granularity="parameter",
        batch_size=128,
        seed=0,
        mc_samples=1,
        device="cpu",
        engine="hooks",
    )
    assert_fisher_close(got, brute_force(net, images, labels, "empirical"))


class _OddLayers(nn.Module):
    """Strided and dilated conv without bias, and a Linear on (B, T, in): hook path."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=3, stride=2, dilation=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(3, 4, kernel_size=(2, 3), padding=(0, 1))
        self.tokens = nn.Linear(4, 6)
        self.out = nn.Linear(6, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv(x))))  # (B, 4, H', W')
        h = h.flatten(2).transpose(1, 2)  # (B, T, 4)
        h = torch.tanh(self.tokens(h)).mean(dim=1)  # (B, 6)
        return self.out(h)  # (B, C)


class _WithBatchNorm(nn.Module):
    """Trainable BatchNorm (eval mode: running statistics) after a convolution: hook path."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))  # (B, C)


class _InplaceRelu(nn.Module):
    """A conv output modified in place: the hook path hands on a copy."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu_(self.conv(x)).mean(dim=(2, 3)))  # (B, C)


class _Norms(nn.Module):
    """Grouped and depthwise convolutions, GroupNorm, LayerNorm over (B, T, D) tokens, BatchNorm1d, an in-place
    residual sum on a normalised output: hook path."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.gn = nn.GroupNorm(2, 4)
        self.grouped = nn.Conv2d(4, 6, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False)
        self.ln = nn.LayerNorm(6)
        self.bn = nn.BatchNorm1d(6)
        self.fc = nn.Linear(6, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.gn(self.conv(x)))  # (B, 4, 8, 8)
        h = self.depthwise(torch.tanh(self.grouped(h)))  # (B, 6, 4, 4)
        t = self.ln(h.flatten(2).transpose(1, 2))  # (B, 16, 6)
        t += 0.5  # in place on the LayerNorm's output
        h = self.bn(torch.tanh(t).mean(dim=1))  # (B, 6)
        return self.fc(torch.tanh(h))  # (B, C)


class _Scale(nn.Module):
    """A module of its own with a trainable parameter."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _WithScale(nn.Module):
    """A module the hooks have no per-sample rule for, so the torch.func engine."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.act = _Scale(3)
        self.fc = nn.Linear(3, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.act(self.conv(x))).mean(dim=(2, 3)))  # (B, C)


class _Reused(nn.Module):
    """One Linear called twice per forward (shared weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(5, 5)
        self.fc = nn.Linear(5, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)[:, :5]  # (B, 5)
        return self.fc(torch.tanh(self.shared(torch.tanh(self.shared(h)))))  # (B, C)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize(
    ("model_cls", "hookable"),
    [
        (_OddLayers, True),
        (_WithBatchNorm, True),
        (_InplaceRelu, True),
        (_Norms, True),
        (_WithScale, False),
        (_Reused, False),
    ],
)
def test_other_architectures(data, model_cls: type[nn.Module], hookable: bool, estimator: str) -> None:
    images, labels = data
    net = _reinit(model_cls(), seed=3)
    for bn in (m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        with torch.no_grad():
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    got = fisher_diagonal(net, images, labels, estimator=estimator, batch_size=5, seed=1, mc_samples=2)
    assert_fisher_close(got, brute_force(net, images, labels, estimator, seed=1, mc_samples=2))
    kwargs = dict(
        estimator=estimator, granularity="parameter", batch_size=5, seed=1, mc_samples=2, device="cpu"
    )
    if hookable:
        got = _fisher_diagonal(net, images, labels, engine="hooks", **kwargs)
        assert_fisher_close(got, brute_force(net, images, labels, estimator, seed=1, mc_samples=2))
    else:
        with pytest.raises(Unsupported):
            _fisher_diagonal(net, images, labels, engine="hooks", **kwargs)


@pytest.mark.parametrize("gram", [True, False])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_both_forms_of_a_layers_squares_match_the_brute_force(data, monkeypatch, estimator: str, gram: bool) -> None:
    """Every Linear / Conv2d through the sum over position pairs (gram) or through formed per-sample gradients
    (patches held, or not: HELD = 0), in chunks of one sample (the memory bounds at their floor)."""
    images, labels = data
    monkeypatch.setattr(persample, "_use_gram", lambda *args: gram)
    monkeypatch.setattr(persample.HookEngine, "CHUNK", 1)
    kwargs = dict(granularity="parameter", batch_size=5, seed=1, mc_samples=2, device="cpu", engine="hooks")
    for held in (persample.HookEngine.HELD, 0) if not gram else (persample.HookEngine.HELD,):
        monkeypatch.setattr(persample.HookEngine, "HELD", held)
        for net in (_reinit(_Norms(), seed=3), _reinit(_OddLayers(), seed=3), tiny_net()):
            got = _fisher_diagonal(net, images, labels, estimator=estimator, **kwargs)
            assert_fisher_close(got, brute_force(net, images, labels, estimator, seed=1, mc_samples=2))


def test_the_log_names_the_module_that_sends_a_model_to_the_func_engine(data, caplog) -> None:
    images, labels = data
    caplog.set_level(logging.INFO, logger="taskdist.methods.fisher")
    fisher_diagonal(_reinit(_WithScale(), seed=3), images, labels, estimator="empirical")
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and "FuncEngine" in lines[0] and "act (_Scale)" in lines[0], lines
    caplog.clear()
    fisher_diagonal(_reinit(_Norms(), seed=3), images, labels, estimator="empirical")
    assert not [r for r in caplog.records if "FuncEngine" in r.getMessage()]


def test_batchnorm_on_batch_statistics_is_not_taken_by_the_hooks(data) -> None:
    images, labels = data
    net = _reinit(_WithBatchNorm(), seed=3)
    net.bn.track_running_stats, net.bn.running_mean, net.bn.running_var = False, None, None
    kwargs = dict(estimator="exact", granularity="parameter", batch_size=5, seed=1, mc_samples=1, device="cpu")
    with pytest.raises(Unsupported, match=r"bn \(BatchNorm2d\): normalises with batch statistics"):
        _fisher_diagonal(net, images, labels, engine="hooks", **kwargs)


def test_mc_converges_to_exact(data) -> None:
    images, labels = data
    net = tiny_net()
    exact = flatten(fisher_diagonal(net, images, labels, estimator="exact"))
    mc = flatten(fisher_diagonal(net, images, labels, estimator="mc", mc_samples=3000, seed=11))
    assert np.linalg.norm(mc - exact) / np.linalg.norm(exact) < 0.05


def test_mc_is_seeded(data) -> None:
    images, labels = data
    net = tiny_net()
    a = flatten(fisher_diagonal(net, images, labels, estimator="mc", seed=5))
    b = flatten(fisher_diagonal(net, images, labels, estimator="mc", seed=5))
    c = flatten(fisher_diagonal(net, images, labels, estimator="mc", seed=6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_filter_granularity_is_mean_over_all_but_first_axis(data) -> None:
    images, labels = data
    net = tiny_net()
    par = fisher_diagonal(net, images, labels, granularity="parameter", estimator="empirical")
    fil = fisher_diagonal(net, images, labels, granularity="filter", estimator="empirical")
    conv = "body.features.0.weight"
    assert par[conv].shape == (3, 1, 3, 3) and fil[conv].shape == (3,)
    assert fil["body.fc.weight"].shape == (5,) and fil["body.fc.bias"].shape == (5,)
    for name, value in par.items():
        torch.testing.assert_close(fil[name], value.reshape(value.shape[0], -1).mean(dim=1))


# ---------------------------------------------------------------------------------------
# invariances and side effects


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_batch_size_invariance(data, estimator: str) -> None:
    images, labels = data
    net = tiny_net()
    ref = fisher_diagonal(net, images, labels, estimator=estimator, batch_size=N_SAMPLES, mc_samples=2)
    for batch_size in (1, 5, 100):
        got = fisher_diagonal(net, images, labels, estimator=estimator, batch_size=batch_size, mc_samples=2)
        assert_fisher_close(got, ref)


def test_frozen_head_is_excluded(data) -> None:
    images, labels = data
    net = tiny_net()
    full = fisher_diagonal(net, images, labels, estimator="exact")
    net.head.requires_grad_(False)
    body = fisher_diagonal(net, images, labels, estimator="exact")
    assert sorted(body) == sorted(n for n, _ in net.body.named_parameters(prefix="body"))
    assert not any(k.startswith("head.") for k in body)
    assert_fisher_close(body, {k: v for k, v in full.items() if k in body})


def test_model_is_left_unchanged(data) -> None:
    images, labels = data
    net = tiny_net()
    net.train()
    net.body.fc.eval()  # mixed modes must be restored module by module
    net.head.requires_grad_(False)
    net.body.features[0].weight.grad = torch.full_like(net.body.features[0].weight, 3.0)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    modes = {n: m.training for n, m in net.named_modules()}
    n_hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules())
    for estimator in ESTIMATORS:
        fisher_diagonal(net, images, labels, estimator=estimator, batch_size=5)
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), before[n], rtol=0, atol=0)
        if grads[n] is None:
            assert p.grad is None, n
        else:
            torch.testing.assert_close(p.grad, grads[n], rtol=0, atol=0)
        assert p.requires_grad == flags[n]
    assert {n: m.training for n, m in net.named_modules()} == modes
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in net.modules()) == n_hooks


def test_computes_under_no_grad(data) -> None:
    images, labels = data
    net = tiny_net()
    with torch.no_grad():
        got = fisher_diagonal(net, images, labels, estimator="empirical")
    assert_fisher_close(got, brute_force(net, images, labels, "empirical"))


def test_is_not_the_square_of_the_mean_gradient(data) -> None:
    """Regression guard against the reference scripts' bug: (mean_i g_i)^2 instead of mean_i g_i^2."""
    images, labels = data
    net = tiny_net()
    got = fisher_diagonal(net, images, labels, estimator="empirical", batch_size=N_SAMPLES)
    net.eval()
    log_lik = torch.log_softmax(net(images), dim=-1).gather(1, labels[:, None]).mean()
    names = [n for n, _ in net.named_parameters()]
    mean_grads = torch.autograd.grad(log_lik, list(net.parameters()))
    buggy = {n: g.detach() ** 2 for n, g in zip(names, mean_grads, strict=True)}
    ours, bug = flatten(got), flatten(buggy)
    assert np.all(ours >= bug * (1 - 1e-4) - 1e-12)  # Jensen: mean of squares >= square of mean
    assert ours.sum() > 2 * bug.sum()
    assert np.linalg.norm(ours - bug) / np.linalg.norm(ours) > 0.5


# ---------------------------------------------------------------------------------------
# flatten


def test_flatten_sorted_float64() -> None:
    fim = {"b": torch.tensor([3.0, 4.0]), "a": torch.tensor([[1.0], [2.0]])}
    vec = flatten(fim)
    assert vec.dtype == np.float64
    np.testing.assert_array_equal(vec, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="non-empty mapping"):
        flatten([torch.zeros(2)])
    with pytest.raises(ValueError, match="non-negative"):
        flatten({"a": np.array([1.0, -1.0])})


def test_mc_without_its_draws_is_an_error_not_the_exact_estimator() -> None:
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="'mc' needs the uniforms of its label draws"):
        _logit_vectors(logits, y=y, estimator="mc", u=None, labels=None)
    with pytest.raises(ValueError, match="estimator must be one of"):
        _logit_vectors(logits, y=y, estimator="fisher", u=None, labels=None)
    exact = _logit_vectors(logits, y=y, estimator="exact", u=None, labels=None)
    assert exact.shape == (3, 4, 3)


# ---------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimator": "fisher"}, r"'fisher'.*empirical.*mc.*exact|empirical.*mc.*exact.*'fisher'"),
        ({"granularity": "layer"}, r"'layer'"),
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"mc_samples": 0}, r"mc_samples must be >= 1, got 0"),
    ],
)
def test_rejects_bad_options(data, kwargs: dict, match: str) -> None:
    images, labels = data
    with pytest.raises(ValueError, match=match):
        fisher_diagonal(tiny_net(), images, labels, **({"estimator": "empirical"} | kwargs))


def test_error_messages_name_expected_values(data) -> None:
    images, labels = data
    with pytest.raises(ValueError) as err:
        fisher_diagonal(tiny_net(), images, labels, estimator="fisher")
    assert "'fisher'" in str(err.value) and all(e in str(err.value) for e in ESTIMATORS)
    with pytest.raises(ValueError) as err:
        fisher_diagonal(tiny_net(), images, labels, granularity="layer", estimator="empirical")
    assert "'layer'" in str(err.value) and all(g in str(err.value) for g in GRANULARITIES)


def test_rejects_bad_inputs(data) -> None:
    images, labels = data
    net = tiny_net()
    with pytest.raises(ValueError, match="same length.*12 images.*11 labels"):
        fisher_diagonal(net, images, labels[:11], estimator="empirical")
    with pytest.raises(ValueError, match="non-empty"):
        fisher_diagonal(net, images[:0], labels[:0], estimator="empirical")
    with pytest.raises(ValueError, match=r"\[0, 3\).*got 3"):
        fisher_diagonal(net, images, torch.full_like(labels, N_CLASSES), estimator="empirical")
    with pytest.raises(ValueError, match=r">= 0.*-1"):
        fisher_diagonal(net, images, torch.full_like(labels, -1), estimator="empirical")
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        fisher_diagonal(net, images, labels[:, None], estimator="empirical")
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        fisher_diagonal(net, images.numpy(), labels, estimator="empirical")
    with pytest.raises(TypeError, match="labels must be a torch.Tensor"):
        fisher_diagonal(net, images, labels.tolist(), estimator="empirical")
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        fisher_diagonal(net, images, labels.float(), estimator="empirical")
    with pytest.raises(TypeError, match="images must be a floating point tensor"):
        fisher_diagonal(net, images.to(torch.uint8), labels, estimator="empirical")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fisher_diagonal(lambda x: x, images, labels, estimator="empirical")
    with pytest.raises(TypeError, match="batch_size must be an int"):
        fisher_diagonal(net, images, labels, batch_size=2.0, estimator="empirical")
    net.requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad=True"):
        fisher_diagonal(net, images, labels, estimator="empirical")
