"""Tests of taskdist.nets.linear: a converged, seed-free linear head on fixed features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from taskdist.nets.linear import fit_linear_head, refit_head
from taskdist.nets.models import ArchSpec, build

pytestmark = pytest.mark.usefixtures("one_thread")


def _blobs(n_per_class: int, d: int, n_classes: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian clusters around random centres at distance ~3; ``spread`` their std."""
    gen = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(n_classes, d, generator=gen)  # (C, d)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)  # (N,)
    features = centres[labels] + spread * torch.randn(len(labels), d, generator=gen)  # (N, d)
    return features, labels


def _random_problem(n: int = 90, d: int = 7, n_classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features and labels, unrelated: not separable, every class present."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(n, d, generator=gen)  # (N, d)
    labels = torch.arange(n) % n_classes  # (N,)
    return features, labels[torch.randperm(n, generator=gen)]


def _objective(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, l2: float) -> float:
    w, b = head.weight.detach().double(), head.bias.detach().double()
    logits = features.double() @ w.T + b  # (N, C)
    return (torch.nn.functional.cross_entropy(logits, labels) + 0.5 * l2 * w.square().sum()).item()


def test_label_permutation_permutes_the_rows():
    features, labels = _random_problem()
    perm = torch.tensor([2, 0, 3, 1])  # old class c becomes perm[c]
    head, info = fit_linear_head(features, labels, 4, l2=1e-2, tol=1e-7)
    head_p, info_p = fit_linear_head(features, perm[labels], 4, l2=1e-2, tol=1e-7)
    assert info["converged"] and info_p["converged"]
    assert info_p["loss"] == pytest.approx(info["loss"], abs=1e-6)
    torch.testing.assert_close(head_p.weight[perm], head.weight, atol=1e-4, rtol=0)
    torch.testing.assert_close(head_p.bias[perm], head.bias, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "problem",
    [
        pytest.param(lambda: _blobs(30, 5, 3, spread=0.3, seed=1), id="separable"),
        pytest.param(lambda: _random_problem(seed=2), id="non-separable"),
    ],
)
def test_reaches_the_gradient_tolerance(problem):
    features, labels = problem()
    n_classes = int(labels.max()) + 1
    head, info = fit_linear_head(features, labels, n_classes, l2=1e-3, max_iter=1000, tol=1e-6)
    assert info["converged"] and info["reason"] == "tolerance"
    assert info["grad_norm"] <= 1e-6
    assert 0 < info["iterations"] < 1000
    assert info["loss"] == pytest.approx(_objective(head, features, labels, 1e-3), abs=1e-6)
    # the gradient at the returned head, recomputed independently
    w = head.weight.detach().double().requires_grad_(True)
    b = head.bias.detach().double().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(features.double() @ w.T + b, labels) + 0.5e-3 * w.square().sum()
    grads = torch.autograd.grad(loss, [w, b])
    assert max(g.abs().max().item() for g in grads) <= 2e-6


def test_stops_at_max_iter_and_says_so():
    features, labels = _random_problem(seed=3)
    _, info = fit_linear_head(features, labels, 4, l2=1e-3, max_iter=2, tol=1e-9)
    assert info == info | {"iterations": 2, "converged": False, "reason": "max_iter"}


def test_independent_of_everything_but_the_data():
    features, labels = _random_problem(seed=4)
    head_a, _ = fit_linear_head(features, labels, 4, l2=1e-2, tol=1e-7)
    torch.manual_seed(123)  # global RNG state must not matter
    head_b, _ = fit_linear_head(features, labels, 4, l2=1e-2, tol=1e-7)
    torch.testing.assert_close(head_a.weight, head_b.weight, atol=0, rtol=0)
    assert head_a.weight.dtype == features.dtype
    assert head_a.bias.sum().abs().item() < 1e-5  # bias centred


def test_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    features, labels = _blobs(25, 6, 4, spread=2.0, seed=5)  # overlapping clusters
    features = features.double()
    n, l2 = len(labels), 0.02
    head, info = fit_linear_head(features, labels, 4, l2=l2, tol=1e-8)
    assert info["grad_norm"] <= 1e-7
    # sklearn minimises C * sum_i log-loss_i + ||W||^2 / 2: ours times C * N with C = 1 / (l2 * N)
    clf = LogisticRegression(C=1.0 / (l2 * n), tol=1e-12, max_iter=10_000).fit(features.numpy(), labels.numpy())
    np.testing.assert_allclose(head.weight.detach().numpy(), clf.coef_, atol=1e-4)
    np.testing.assert_allclose(head.bias.detach().numpy(), clf.intercept_ - clf.intercept_.mean(), atol=1e-4)


def test_refit_head_sets_the_converged_head_in_place():
    net = build(ArchSpec(widths=(4,), convs_per_stage=1, pool=4, hidden=8), in_channels=1, n_classes=3, seed=0)
    gen = torch.Generator().manual_seed(6)
    images = torch.randn(30, 1, 12, 12, generator=gen)
    labels = torch.arange(30) % 3
    net.head.requires_grad_(False)
    info = refit_head(net, images, labels, l2=1e-2, tol=1e-7, batch_size=7)
    with torch.no_grad():
        feats = net.body(images)
    head, _ = fit_linear_head(feats, labels, 3, l2=1e-2, tol=1e-7)
    assert info["converged"]
    torch.testing.assert_close(net.head.weight, head.weight)
    assert not net.head.weight.requires_grad and not net.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"l2": 0.0}, ValueError, "l2 must be > 0 and finite, got 0.0"),
        ({"l2": float("nan")}, ValueError, "l2 .* got nan"),
        ({"tol": -1e-6}, ValueError, "tol .* got -1e-06"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1, got 0"),
        ({"max_iter": 10.0}, TypeError, "max_iter must be an int, got float"),
        ({"n_classes": 1}, ValueError, "n_classes must be >= 2, got 1"),
        ({"n_classes": 3}, ValueError, r"labels must lie in \[0, 3\), found values in \[0, 3\]"),
        ({"n_classes": 6}, ValueError, r"classes \[4, 5\] have none"),
        ({"labels": torch.zeros(5, dtype=torch.long)}, ValueError, r"labels must have shape \(12,\)"),
        ({"labels": torch.zeros(12)}, TypeError, "labels must be an integer tensor"),
        ({"features": torch.zeros(12, 3, dtype=torch.long)}, TypeError, "features must be a floating point"),
        ({"features": torch.full((12, 3), float("inf"))}, ValueError, "features must be finite"),
        ({"features": torch.zeros(12)}, ValueError, r"features must have shape \(N, d\)"),
        ({"features": [[0.0]] * 12}, TypeError, "features must be a torch.Tensor, got list"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    args = {"features": torch.zeros(12, 3), "labels": torch.arange(12) % 4, "n_classes": 4}
    args.update(kwargs)
    features, labels, n_classes = args.pop("features"), args.pop("labels"), args.pop("n_classes")
    with pytest.raises(error, match=match):
        fit_linear_head(features, labels, n_classes, **args)
