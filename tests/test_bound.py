"""Tests of taskdist.methods.bound: the W1 term by hand, the label assignment, the bound on a trained toy network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_coupled import toy_net, toy_task

from taskdist.methods import bound
from taskdist.specs import BoundSpec

SPEC = BoundSpec(setting="LearnedAll", samples=60, epochs=15, lr=0.01, lr_prior=1e-4, penalty=1.0, linear_l2=0.1)


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


def test_assignment_is_a_random_column_stochastic_map():
    perm = bound.assignment(4, 4, seed=0)
    assert (perm.sum(0) == 1).all() and (perm.sum(1) == 1).all(), "a permutation when the counts match"
    many = bound.assignment(2, 5, seed=1)
    assert (many.sum(0) == 1).all() and sorted(many.sum(1)) == [2, 3]
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
