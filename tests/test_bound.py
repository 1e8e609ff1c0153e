"""Tests of taskdist.methods.bound: the W1 term by hand and against POT, the label assignment, the reused OT plan,
the bound on a trained toy network (LearnedAll learning the label map), the authors' refit head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_coupled import toy_net, toy_task

from taskdist.methods import bound
from taskdist.specs import BoundSpec

SPEC = BoundSpec(setting="LearnedAll", samples=60, epochs=15, lr=0.01, lr_prior=1e-4, penalty=1.0, linear_l2=0.1,
                 ot_every=5, head="network", refit_tau=0.2)


def test_wasserstein_by_hand():
    src = torch.tensor([[0.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    dst = torch.tensor([[0.0, 1.0], [4.0, 2.0]], dtype=torch.float64)
    same = np.array([0, 1])
    # each source point to the target point above it: (1 + 2) / 2
    assert float(bound.wasserstein(src, same, torch.ones(2), dst, same, mismatch=100.0)) == pytest.approx(1.5)
    # labels swapped on the target: the near points no longer match; the far ones cost sqrt(16 + 4) and sqrt(17)
    swapped = np.array([1, 0])
    far = (np.sqrt(20) + np.sqrt(17)) / 2
    assert float(bound.wasserstein(src, same, torch.ones(2), dst, swapped, mismatch=100.0)) == pytest.approx(far)
    # a cheap mismatch: keep the near points and pay it
    assert float(bound.wasserstein(src, same, torch.ones(2), dst, swapped, mismatch=0.5)) == pytest.approx(2.0)
    # masses: 3/4 of the source at the first point
    w1 = bound.wasserstein(src, np.array([0, 0]), torch.tensor([3.0, 1.0]), dst, np.array([0, 0]), mismatch=1.0)
    assert float(w1) == pytest.approx(0.5 * 1 + 0.25 * np.sqrt(16 + 4) + 0.25 * 2)  # (0,0) sends 1/4 to (4,2)


def test_exact_ot_is_pots_and_a_reused_plan_is_exact_where_it_was_solved():
    import ot

    gen = np.random.default_rng(0)
    cost = torch.from_numpy(gen.uniform(size=(12, 7)))
    a = torch.from_numpy(gen.dirichlet(np.ones(12))).requires_grad_(True)
    value, plan = bound.transport(cost, a)
    b = np.full(7, 1 / 7)
    assert float(value.detach()) == pytest.approx(ot.emd2(a.detach().numpy(), b, cost.numpy()), abs=1e-12)
    assert np.allclose(plan.gamma, ot.emd(a.detach().numpy(), b, cost.numpy()), atol=1e-12)
    value.backward()
    expected = torch.from_numpy(a.detach().numpy()).requires_grad_(True)
    ot.emd2(expected, torch.from_numpy(b), cost).backward()  # POT's gradient in the masses: the dual potential
    g, e = a.grad.numpy(), expected.grad.numpy()
    assert np.allclose(g - g.mean(), e - e.mean(), atol=1e-9)
    reused, none = bound.transport(cost, a.detach(), plan)
    assert none is None and float(reused) == pytest.approx(float(value), abs=1e-12)
    moved = cost + 0.01 * torch.from_numpy(gen.normal(size=(12, 7)))
    assert float(bound.transport(moved, a.detach(), plan)[0]) >= float(bound.transport(moved, a.detach())[0]) - 1e-12, \
        "a plan of other costs transports at least the optimal cost"


def test_the_bound_does_not_import_pots_solvers():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from taskdist.methods import bound; "
            "bound.emd(np.full(3, 1 / 3), np.full(3, 1 / 3), np.eye(3)); "
            "assert 'sklearn.cluster' not in sys.modules and 'ot.lowrank' not in sys.modules; "
            "assert 'ot' not in sys.modules, 'the stand-in package stayed'; "
            "import ot; assert callable(ot.emd), 'the real POT imports afterwards'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_assignment_is_a_random_column_stochastic_map():
    perm = bound.assignment(4, 4, seed=0)
    assert (perm.sum(0) == 1).all() and (perm.sum(1) == 1).all(), "a permutation when the counts match"
    many = bound.assignment(2, 5, seed=1)
    assert (many.sum(0) == 1).all() and sorted(many.sum(1)) == [2, 3]
    few = bound.assignment(5, 2, seed=1)  # fewer source than target classes: every target class still gets mass
    assert np.allclose(few.sum(0), 1) and (few.sum(1) > 0).all()
    assert sorted((few > 0).sum(0)) == [2, 3] and set(np.unique(few[few > 0]).round(4)) == {0.5, 0.3333}
    assert not np.array_equal(bound.assignment(4, 4, seed=0), bound.assignment(4, 4, seed=2))


@pytest.fixture(scope="module")
def source_net():
    return toy_net(4)


@pytest.mark.parametrize("target_shift", [0, 1])
def test_the_bound_holds_learning_only_tightens_it_and_keeps_b_and_d_distributions(source_net, target_shift):
    source = toy_task(80, 4, 0, seed=1)
    target, test = toy_task(40, 2, target_shift, seed=2), toy_task(60, 2, target_shift, seed=3)
    out = {s: bound.transfer_bound(source_net, source, target, test, BoundSpec(**{**vars(SPEC), "setting": s}), 0)
           for s in bound.BOUND_SETTINGS}
    for setting, r in out.items():
        for where in ("terms", "test"):
            terms = r[where]
            assert terms["bound"] == pytest.approx(sum(terms[k] for k in bound.TERMS))
            assert terms["bound"] >= terms["target_loss"], (setting, where, terms)
        assert r["bound"] == r["terms"]["bound"] and r["linear_loss"] > 0
        B, D = np.array(r["label_map"]), np.array(r["prior"])
        assert B.shape == (2, 4) and np.allclose(B.sum(0), 1) and (B >= 0).all()
        assert np.isclose(D.sum(), 1) and (D >= 0).all()
    assert out["FixedAll"]["terms"]["conditional_entropy"] == 0, "a hard assignment is unambiguous"
    assert out["FixedAll"]["best_epoch"] == 0 and len(out["FixedAll"]["trace"]) == 1
    assert out["LearnedAll"]["bound"] <= out["FixedAll"]["bound"]
    assert out["LearnedA"]["bound"] <= out["FixedAll"]["bound"]
    trace = [t["bound"] for t in out["LearnedAll"]["trace"]]
    assert min(trace) == pytest.approx(out["LearnedAll"]["bound"]), "the best iterate is kept"


def test_learned_all_learns_the_identity_label_map_and_is_never_looser_than_fixed_all(source_net):
    """Target: the source's own four classes (another draw). From a near-uniform start LearnedAll finds the
    identity map, which the fixed random assignment is not; its bound is at most FixedAll's."""
    source, target, test = toy_task(80, 4, 0, seed=1), toy_task(40, 4, 0, seed=2), toy_task(40, 4, 0, seed=3)
    spec = BoundSpec(**{**vars(SPEC), "samples": 40, "epochs": 60, "lr": 0.05})
    out = {s: bound.transfer_bound(source_net, source, target, test, BoundSpec(**{**vars(spec), "setting": s}), 0)
           for s in ("LearnedAll", "FixedAll")}
    B = np.array(out["LearnedAll"]["label_map"])
    assert np.array_equal(B.argmax(0), np.arange(4)), B.round(2)
    assert not np.array_equal(np.array(out["FixedAll"]["label_map"]).argmax(0), np.arange(4))
    assert out["LearnedAll"]["bound"] <= out["FixedAll"]["bound"]
    assert out["LearnedAll"]["terms"]["target_loss"] < np.log(4), "better than a uniform guess"
    assert out["LearnedAll"]["best_epoch"] > 0 and out["LearnedAll"]["exact_solves"] == 1 + 60 // 5 + 1


def test_the_refit_head_is_the_authors(source_net):
    """head: refit: the source head refit with its input gradients kept under the penalty's threshold, an empirical
    tau, a class-conditional W1 (no transport across labels)."""
    source, target, test = toy_task(80, 4, 0, seed=1), toy_task(40, 2, 1, seed=2), toy_task(40, 2, 1, seed=3)
    r = bound.transfer_bound(source_net, source, target, test, BoundSpec(**{**vars(SPEC), "head": "refit"}), 0)
    assert r["head"] == "refit" and r["refit"]["accuracy"] > 0.6
    assert r["refit"]["max_gradient"] ** 2 <= 0.2 * 1.05
    assert r["terms"]["mismatch"] == bound.CLASS_CONDITIONAL and r["terms"]["wasserstein"] < 1e4
    assert r["terms"]["bound"] == pytest.approx(sum(r["terms"][k] for k in bound.TERMS))
