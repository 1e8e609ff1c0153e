"""Tests of taskdist.methods.coupled: the schedule, the blocked couplings (POT) and the length of a trained path."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from taskdist.methods import coupled, registry
from taskdist.nets import models
from taskdist.specs import ArchSpec, CoupledSpec

SPEC = CoupledSpec(samples=24, block=8, steps=6, steps_per_tau=3, batch_size=8, lr=0.003, outer=2, entropy=0.05,
                   proximal=0.1)


def test_schedule_runs_from_0_to_1_densest_near_both_ends():
    taus = coupled.schedule(10)
    assert taus[0] == 0 and taus[-1] == pytest.approx(1) and len(taus) == 11
    steps = np.diff(taus)
    assert (steps > 0).all()
    assert steps[0] < steps[4] and steps[-1] < steps[5], "arcsine: small steps at both ends"
    assert np.allclose(taus + taus[::-1], 1), "symmetric about 1/2"
    with pytest.raises(ValueError, match="at least 1 step"):
        coupled.schedule(0)


def test_blocks_cover_every_sample_once_in_nearly_equal_blocks():
    parts = coupled.blocks(53, 25)
    assert [len(p) for p in parts] == [18, 18, 17]
    assert np.array_equal(np.concatenate(parts), np.arange(53))
    assert [len(p) for p in coupled.blocks(10, 25)] == [10]


def features(n=30, d=5, seed=0):
    gen = np.random.default_rng(seed)
    return gen.normal(size=(n, d)), gen.normal(size=(n, d))


def test_blocked_cost_equals_the_unblocked_cost_on_its_blocks():
    zs, zt = features()
    full = coupled.cosine_cost(zs, zt)
    parts = coupled.blocks(len(zs), 8)
    for part, block in zip(parts, coupled.block_costs(zs, zt, parts), strict=True):
        assert np.allclose(block, full[np.ix_(part, part)])
    # by hand: 1 - cos
    assert full[2, 3] == pytest.approx(1 - zs[2] @ zt[3] / np.linalg.norm(zs[2]) / np.linalg.norm(zt[3]))
    assert np.allclose(coupled.cosine_cost(np.zeros((2, 5)), zt[:3]), 1.0), "a zero vector has no direction"


def test_one_block_is_the_unblocked_entropic_plan():
    zs, zt = features(n=12)
    cost = coupled.cosine_cost(zs, zt)
    [gamma] = coupled.initial_coupling([cost], reg=0.1)
    w = np.full(12, 1 / 12)
    assert np.allclose(gamma, ot.sinkhorn(w, w, cost, 0.1 * cost.mean(), method="sinkhorn_log", stopThr=1e-10),
                       atol=1e-9)


@pytest.mark.parametrize("make", ["independent", "initial", "proximal"])
def test_every_coupling_has_the_sample_weights_as_marginals(make):
    zs, zt = features(n=30)
    parts = coupled.blocks(30, 8)
    costs = coupled.block_costs(zs, zt, parts)
    gammas = {
        "independent": lambda: coupled.independent_coupling(parts),
        "initial": lambda: coupled.initial_coupling(costs, reg=0.05),
        "proximal": lambda: coupled.proximal_coupling(coupled.initial_coupling(costs, reg=0.05),
                                                      [c**2 + 1 for c in costs], step=0.1),
    }[make]()
    rows, cols = coupled.marginals(gammas)
    assert np.allclose(rows, 1 / 30, atol=1e-8) and np.allclose(cols, 1 / 30, atol=1e-8)
    assert all(g.shape == (len(p), len(p)) and (g >= 0).all() for g, p in zip(gammas, parts, strict=True))


def test_the_coupling_follows_the_cost():
    """Target samples that are permuted copies of the source samples: the plan finds the permutation; a proximal
    step towards a cost that prefers another permutation moves mass to it, less so with a larger step (from a soft
    plan: a KL step never gives mass where the old plan has none)."""
    zs, _ = features(n=8, d=8)
    perm = np.array([3, 0, 6, 1, 7, 2, 5, 4])
    cost = coupled.cosine_cost(zs, zs[perm])  # source i matches target perm.argsort()[i]
    [gamma] = coupled.initial_coupling([cost], reg=0.01)
    assert np.array_equal(gamma.argmax(axis=1), np.argsort(perm))
    assert coupled.summary([gamma])["max_share"] > 0.9
    assert coupled.summary(coupled.independent_coupling([np.arange(8)]))["perplexity"] == pytest.approx(1)

    other = np.roll(np.eye(8), 1, axis=1)  # prefers target i + 1 for source i
    new = np.ones((8, 8)) - other
    [gamma] = coupled.initial_coupling([cost], reg=1.0)
    near = coupled.proximal_coupling([gamma], [new], step=10.0)[0]
    far = coupled.proximal_coupling([gamma], [new], step=0.01)[0]
    assert (far * other).sum() > (near * other).sum() > (gamma * other).sum()
    assert np.array_equal(far.argmax(axis=1), np.arange(1, 9) % 8)


def test_spec_of_a_method_holds_only_what_it_reads():
    for method in registry.PATH_METHODS:
        params = registry.path_reads(method, SPEC)
        spec = coupled.spec_of(method, params)
        assert {k for k, v in vars(spec).items() if v is not None} == set(registry.PATH_READS[method])
    assert "entropy" not in registry.path_reads("uncoupled", SPEC)
    assert "block" not in registry.path_reads("finetune_length", SPEC)
    with pytest.raises(ValueError, match="one of"):
        registry.path_reads("geodesic", SPEC)


# -- the path ------------------------------------------------------------------------------------------------------


def toy_task(n, classes, shift, seed):
    """Images whose label is the quadrant of a bright blob, ``classes`` labels, blobs shifted by ``shift``."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=gen)
    for i, label in enumerate(y.tolist()):
        r, c = divmod((label + shift) % 4, 2)
        x[i, 0, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.5
    return x, y


def toy_net(classes):
    """A small CNN trained on :func:`toy_task` with ``classes`` labels."""
    from taskdist.nets import train

    x, y = toy_task(120, classes, 0, seed=0)
    net = models.build(ArchSpec(widths=(4,), convs_per_stage=1, pool=2, hidden=8), 1, classes, seed=0)
    train.fit(net, x, y, epochs=15, batch_size=16, lr=0.01, seed=0)
    return net


@pytest.fixture(scope="module")
def source_net():
    return toy_net(2)


@pytest.mark.parametrize("method", registry.PATH_METHODS)
def test_path_length_is_reproducible_and_leaves_the_source_unchanged(source_net, method):
    before = {k: v.clone() for k, v in source_net.state_dict().items()}
    source, target = toy_task(40, 2, 0, seed=1), toy_task(30, 3, 1, seed=2)
    out = coupled.distance(method, source_net, source, target, SPEC, seed=5)
    assert all(torch.equal(before[k], v) for k, v in source_net.state_dict().items())
    assert out["samples"] == 24 and out["distance"] > 0
    trace = out["path"]
    assert len(trace["tau"]) == SPEC.steps + 1 and trace["tau"][0] == 0 and trace["tau"][-1] == pytest.approx(1)
    assert np.all(np.diff(trace["length"]) >= 0) and trace["length"][-1] == pytest.approx(out["distance"])
    assert trace["length"][0] == 0
    assert all(0 <= a <= 1 for a in trace["source_accuracy"] + trace["target_accuracy"])
    assert len(out["iterations"]) == (SPEC.outer if method == "coupled" else 1)
    assert (out["coupling"] is None) == (method == "finetune_length")
    again = coupled.distance(method, source_net, source, target, SPEC, seed=5)
    assert again == out
    assert coupled.distance(method, source_net, source, target, SPEC, seed=6)["distance"] != out["distance"]


def test_the_path_reaches_the_target_through_the_joint_head(source_net):
    """Source labels first, target labels after them: trained to τ = 1 the network classifies the target with its
    new head rows, and starts from the source's own predictions."""
    source, target = toy_task(40, 2, 0, seed=1), toy_task(40, 2, 2, seed=2)
    spec = CoupledSpec(**{**vars(SPEC), "steps": 8, "steps_per_tau": 8, "samples": 40})
    out = coupled.distance("uncoupled", source_net, source, target, spec, seed=0)
    trace = out["path"]
    assert trace["source_accuracy"][0] > 0.9 and trace["target_accuracy"][0] < 0.6
    assert trace["target_accuracy"][-1] > 0.9

    joint = coupled.joint_head(source_net, 3, seed=0)
    assert joint.n_classes == 5
    assert torch.equal(joint.head.weight[:2], source_net.head.weight)
    assert torch.equal(joint.body.fc.weight, source_net.body.fc.weight)


def test_weighted_length_weighs_each_pair_by_the_coupling():
    gammas = [np.array([[0.5, 0.0], [0.0, 0.25]]), np.array([[0.25]])]
    lengths = [np.array([[1.0, 9.0], [9.0, 2.0]]), np.array([[4.0]])]
    assert coupled.weighted_length(gammas, lengths) == pytest.approx(0.5 + 0.5 + 1.0)


@pytest.mark.parametrize("method", registry.PATH_METHODS)
def test_a_resample_is_about_as_far_as_a_task_with_disjoint_classes(source_net, method):
    """A measured property of the paper's head, not a wish: the issue asked that d(a, a') <= d(a, disjoint) / 2, and
    it does not hold. The target's labels are new outputs after the source's, even when the classes are the same,
    so a path to the resample must move every confident prediction from source label c to target label c: a
    Fisher-Rao length of about pi per sample (two near-certain distributions on different outcomes), which a task
    with other classes needs as well. The ratio comes out 0.8-1.2 here and ~0.8 on the default experiment (README).
    Should this test fail, the length has started to see the task difference beyond the label switch: update the
    README's reading of the floors."""
    spec = CoupledSpec(**{**vars(SPEC), "samples": 40, "steps": 6, "steps_per_tau": 6, "lr": 0.01})
    source = toy_task(60, 2, 0, seed=1)
    resample, disjoint = toy_task(60, 2, 0, seed=10), toy_task(60, 2, 2, seed=20)  # same quadrants; the other two
    near = coupled.distance(method, source_net, source, resample, spec, seed=0)
    far = coupled.distance(method, source_net, source, disjoint, spec, seed=0)
    assert near["path"]["source_accuracy"][0] > 0.9 and near["path"]["target_accuracy"][0] < 0.1
    assert near["path"]["target_accuracy"][-1] > 0.5, "the path moves the resample to the target's labels"
    assert near["distance"] > 0.5 * far["distance"], (near["distance"], far["distance"])
