"""taskdist.nas: genotypes, networks, spaces, FUSE, random search, nearest bases, complexity distance."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from taskdist.config import defaults
from taskdist.data import datasets
from taskdist.evaluation.selection import nearest_bases
from taskdist.methods.tanas import complexity_distance
from taskdist.nas import taskaware
from taskdist.nas.fuse import Mixture, fuse, random_search, train_final
from taskdist.nas.network import build, param_count
from taskdist.nas.ops import OP_NAMES, OPS, op_param_count
from taskdist.nas.space import Genotype, SearchSpace
from taskdist.nas.taskaware import task_aware_space
from taskdist.nets import train
from taskdist.seeds import stable_seed
from taskdist.specs import FuseSpec, ImageSpec, NetSpec, from_params

pytestmark = pytest.mark.usefixtures("one_thread")

SEARCH = from_params(FuseSpec, defaults("nas", "search"))  # the schema's defaults
NET = SEARCH.net
TINY = replace(SEARCH, stages=2, rounds=1, epochs=1, candidates=1, nodes=3, net=replace(NET, width=4, cells=2),
               batch_size=32, final_epochs=1)


@pytest.fixture(scope="module")
def digits():
    """3 classes of scikit-learn digits at 16x16: train 90, val 45, test 45."""
    ds = datasets.load("digits", ImageSpec(size=16))
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), 60, replace=False) for c in range(3)])
    idx = rng.permutation(idx)
    x = torch.from_numpy(ds.images[idx]).float().div(127.5).sub(1.0)  # (180, 1, 16, 16)
    y = torch.from_numpy(ds.labels[idx]).long()  # (180,)
    return (x[:90], y[:90]), (x[90:135], y[90:135]), (x[135:], y[135:])


def cell(*edges: tuple[int, int, str]) -> Genotype:
    return Genotype(max(j for _, j, _ in edges) + 1, edges)


# ---------------------------------------------------------------------------------------
# operations, genotypes, networks


def test_every_operation_keeps_the_shape_and_matches_its_parameter_formula():
    x = torch.randn(2, 4, 7, 5)
    assert OP_NAMES == (
        "none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
        "dil_conv_3x3", "dil_conv_5x5", "conv_7x1_1x7",
    )  # fmt: skip
    for name, make in OPS.items():
        op = make(4)
        assert op(x).shape == x.shape, name
        assert op_param_count(name, 4) == sum(p.numel() for p in op.parameters()), name
    assert torch.equal(OPS["none"](4)(x), torch.zeros_like(x))


@pytest.mark.parametrize("nodes", [2, 3, 4])
def test_genotype_json_round_trip(nodes):
    g = SearchSpace.full().sample(np.random.default_rng(nodes), nodes)
    text = g.to_json()
    plain = json.loads(text)
    assert plain["nodes"] == nodes and len(plain["edges"]) == nodes * (nodes - 1) // 2
    assert Genotype.from_json(text) == g
    assert Genotype.from_dict(plain).to_json() == text
    shuffled = Genotype(nodes, tuple(reversed(g.edges)))  # edge order does not matter
    assert shuffled == g and shuffled.to_json() == text


@pytest.mark.parametrize(
    "edges, match",
    [
        (((0, 1, "conv_3x3"),), "unknown operation"),
        (((1, 0, "skip_connect"),), "from < to"),
        (((0, 1, "skip_connect"), (0, 1, "max_pool_3x3")), "one edge per node pair"),
        (((0, 2, "skip_connect"),), r"nodes \[1\] have no incoming edge"),
    ],
)
def test_genotype_rejects_malformed_cells(edges, match):
    with pytest.raises(ValueError, match=match):
        Genotype(3 if match != "unknown operation" else 2, edges)


def test_genotype_rejects_malformed_json():
    with pytest.raises(ValueError, match="keys 'nodes' and 'edges'"):
        Genotype.from_dict({"nodes": 2})
    with pytest.raises(ValueError, match="'from', 'to', 'op'"):
        Genotype.from_dict({"nodes": 2, "edges": [[0, 1, "skip_connect"]]})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16), (2, 9, 7), (1, 1, 1)])
@pytest.mark.parametrize("spec", [NetSpec(width=4, cells=1, stem_stride=1), NetSpec(width=6, cells=3, stem_stride=2)])
def test_network_builds_for_any_input_and_counts_its_parameters(shape, spec):
    g = SearchSpace.full().sample(np.random.default_rng(sum(shape)), 4)
    net = build(g, spec, in_channels=shape[0], n_classes=5, seed=0)
    out = net(torch.randn(3, *shape))
    assert out.shape == (3, 5)
    assert net.body(torch.randn(3, *shape)).shape == (3, net.body.out_features)
    assert param_count(g, spec, shape[0], 5) == sum(p.numel() for p in net.parameters())


def test_network_weights_depend_only_on_the_seed():
    g = SearchSpace.full().sample(np.random.default_rng(0), 3)
    a, b = build(g, replace(NET, width=4), 1, 2, seed=7), build(g, replace(NET, width=4), 1, 2, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# ---------------------------------------------------------------------------------------
# spaces


def test_full_space_is_every_operation_uniformly():
    space = SearchSpace.full()
    assert space.ops == OP_NAMES
    np.testing.assert_allclose(space.probabilities, 1 / len(OP_NAMES))


def test_sampling_follows_the_weights_and_the_seed():
    space = SearchSpace(("skip_connect", "max_pool_3x3", "sep_conv_3x3"), (1.0, 2.0, 7.0))
    rng = np.random.default_rng(1)
    cells = [space.sample(rng, 4) for _ in range(500)]  # 3000 edges
    counts = Counter(op for g in cells for op in g.ops)
    freq = np.array([counts[op] for op in space.ops]) / sum(counts.values())
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.025)
    again = np.random.default_rng(1)
    assert [space.sample(again, 4) for _ in range(500)] == cells


def test_space_rejects_bad_weights_and_operations():
    with pytest.raises(ValueError, match="positive"):
        SearchSpace(("skip_connect",), (0.0,))
    with pytest.raises(ValueError, match="one weight per operation"):
        SearchSpace(("skip_connect", "none"), (1.0,))
    with pytest.raises(ValueError, match="unknown operations"):
        SearchSpace(("identity",), (1.0,))


def test_task_aware_space_holds_only_the_base_cells_operations_weighted_by_use():
    bases = [
        cell((0, 1, "sep_conv_3x3"), (0, 2, "sep_conv_3x3"), (1, 2, "none")),
        cell((0, 1, "max_pool_3x3"), (0, 2, "sep_conv_3x3"), (1, 2, "skip_connect")),
    ]
    space = SearchSpace.task_aware(bases)
    assert space.ops == ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3")  # canonical order
    assert space.weights == (1.0, 1.0, 1.0, 3.0)
    used = {op for g in bases for op in g.ops}
    rng = np.random.default_rng(0)
    assert {op for _ in range(200) for op in space.sample(rng, 4).ops} == used
    assert "none" not in SearchSpace.task_aware(bases, exclude=("none",)).ops
    with pytest.raises(ValueError, match="no operation"):
        SearchSpace.task_aware([cell((0, 1, "none"))], exclude=("none",))


# ---------------------------------------------------------------------------------------
# nearest bases


def _distances(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([(s, t, v) for (s, t), v in values.items()], columns=["source", "target", "value"])


def test_nearest_bases_follow_the_distance_from_base_to_target():
    d = _distances({
        ("b1", "t"): 0.5, ("b2", "t"): 0.1, ("b3", "t"): 0.3, ("b4", "t"): 0.3,
        ("t", "b1"): 0.0, ("t", "b2"): 0.9, ("t", "b3"): 0.9, ("t", "b4"): 0.0,  # the other direction: ignored
        ("b1", "u"): 0.0,
    })  # fmt: skip
    assert nearest_bases(d, "t", ["b1", "b2", "b3", "b4"], 1) == ["b2"]
    assert nearest_bases(d, "t", ["b4", "b3", "b2", "b1"], 3) == ["b2", "b3", "b4"]  # tie broken by name
    assert nearest_bases(d, "t", ["b1", "b3"], 2) == ["b3", "b1"]


def test_nearest_bases_rejects_bad_requests():
    d = _distances({("b1", "t"): 0.5, ("b2", "t"): 0.1})
    with pytest.raises(ValueError, match="no row source='b3'"):
        nearest_bases(d, "t", ["b1", "b3"], 1)
    with pytest.raises(ValueError, match="k must be"):
        nearest_bases(d, "t", ["b1", "b2"], 3)
    with pytest.raises(ValueError, match="also listed as a base"):
        nearest_bases(d, "t", ["b1", "t"], 1)


def test_task_aware_space_is_built_from_the_nearest_bases_cells_only():
    cells = {
        "near": cell((0, 1, "sep_conv_5x5"), (0, 2, "skip_connect"), (1, 2, "sep_conv_5x5")),
        "mid": cell((0, 1, "dil_conv_3x3"), (0, 2, "skip_connect"), (1, 2, "dil_conv_3x3")),
        "far": cell((0, 1, "max_pool_3x3"), (0, 2, "avg_pool_3x3"), (1, 2, "conv_7x1_1x7")),
    }
    d = _distances({("near", "t"): 0.1, ("mid", "t"): 0.2, ("far", "t"): 0.9})
    space, chosen = task_aware_space(cells, d, "t", k=2)
    assert chosen == ["near", "mid"]
    assert space.ops == ("skip_connect", "sep_conv_5x5", "dil_conv_3x3")
    assert space.weights == (2.0, 2.0, 2.0)


# ---------------------------------------------------------------------------------------
# FUSE and random search


def test_mixture_output_is_the_softmax_weighted_sum_of_the_candidates():
    torch.manual_seed(0)
    candidates = [nn.Linear(3, 4) for _ in range(3)]
    mixture = Mixture(candidates)
    with torch.no_grad():
        mixture.alpha.copy_(torch.tensor([0.3, -1.0, 2.0]))
    x = torch.randn(5, 3)
    w = torch.exp(mixture.alpha) / torch.exp(mixture.alpha).sum()
    expected = sum(w[c] * candidates[c](x) for c in range(3))
    torch.testing.assert_close(mixture(x), expected)


def test_fuse_keeps_the_argmax_and_is_deterministic(digits):
    train_split, val_split, _ = digits
    runs = [fuse(SearchSpace.full(), train_split, val_split, spec=TINY, seed=3) for _ in range(2)]
    h = runs[0].history
    assert runs[0].winner == runs[1].winner
    timing = ["seconds", "cpu_s"]
    pd.testing.assert_frame_equal(h.drop(columns=timing), runs[1].history.drop(columns=timing))
    assert runs[0].candidates_trained == len(h) == TINY.candidates_trained == 4
    for _, rows in h.groupby("stage"):
        assert rows["alpha"].sum() == pytest.approx(1.0)
        assert rows["chosen"].sum() == 1 and rows["alpha"].idxmax() == rows["chosen"].idxmax()
    first, second = h[h.stage == 0], h[h.stage == 1]
    assert second.iloc[0]["genotype"] == first[first.chosen].iloc[0]["genotype"]  # the incumbent is kept
    assert runs[0].winner.to_json() == second[second.chosen].iloc[0]["genotype"]
    assert fuse(SearchSpace.full(), train_split, val_split, spec=TINY, seed=4).history["genotype"].tolist() != \
        h["genotype"].tolist()


def test_search_functions_have_no_test_split_argument():
    for fn in (fuse, random_search):
        assert not any("test" in name for name in inspect.signature(fn).parameters), fn.__name__
    assert "test_split" in inspect.signature(train_final).parameters


class Tripwire(torch.Tensor):
    """A tensor whose data cannot be read while ``armed``; shape and length stay visible."""

    armed = True
    METADATA = {"__len__", "size", "dim", "shape", "ndim", "dtype", "device"}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(getattr(func, "__self__", None), "__name__", None) or getattr(func, "__name__", "")
        if cls.armed and name not in cls.METADATA:
            raise AssertionError(f"the test split was read during the search ({name})")
        return super().__torch_function__(func, types, args, kwargs or {})


def test_the_test_split_is_read_only_by_the_final_training(digits, monkeypatch):
    train_split, val_split, (x_test, y_test) = digits
    test_split = (x_test.as_subclass(Tripwire), y_test.as_subclass(Tripwire))
    with pytest.raises(AssertionError, match="test split was read"):
        test_split[0].sum()  # the tripwire works

    finals = []

    def final_then_rearm(*args, **kwargs):
        Tripwire.armed = False
        try:
            result = train_final(*args, **kwargs)
        finally:
            Tripwire.armed = True
        finals.append(result)
        return result

    monkeypatch.setattr(taskaware, "train_final", final_then_rearm)
    cells = {"b1": cell((0, 1, "skip_connect"), (0, 2, "avg_pool_3x3"), (1, 2, "sep_conv_3x3")),
             "b2": cell((0, 1, "max_pool_3x3"), (0, 2, "skip_connect"), (1, 2, "conv_7x1_1x7"))}
    distances = _distances({("b1", "t"): 0.2, ("b2", "t"): 0.4})
    spec = replace(TINY, stages=1, net=replace(NET, width=4, cells=1), batch_size=45)
    space, chosen = task_aware_space(cells, distances, "t", k=1)
    spaces = {"task_aware": space, "full": SearchSpace.full(), "random": SearchSpace.full()}
    results, histories = {}, {}
    try:
        for name, sp in spaces.items():  # the three searches of a target, as the workflow's jobs run them
            results[name], histories[name] = taskaware.run_search(
                name, sp, train_split, val_split, test_split, spec=spec, seed=stable_seed(0, name),
                final_seed=stable_seed(0, "final"),
            )
    finally:
        Tripwire.armed = True
    assert len(finals) == 3 and [r["search"] for r in results.values()] == ["task_aware", "full", "random"]
    assert chosen == ["b1"]
    assert all(0 <= r["test_accuracy"] <= 1 for r in results.values())
    assert all(r["candidates_trained"] == spec.candidates_trained for r in results.values())
    task_aware_ops = {op for g in histories["task_aware"].genotype for op in Genotype.from_json(g).ops}
    assert task_aware_ops <= set(cells["b1"].ops)


def test_random_search_trains_exactly_its_budget_of_candidates(digits, monkeypatch):
    train_split, val_split, _ = digits
    calls = []
    real_fit = train.fit

    def counting_fit(model, *args, **kwargs):
        calls.append(kwargs["epochs"])
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    result = random_search(SearchSpace.full(), train_split, val_split, spec=TINY, seed=0, n_candidates=3, epochs=2)
    assert calls == [2, 2, 2] and result.candidates_trained == len(result.history) == 3
    assert result.history["chosen"].sum() == 1
    best = result.history.loc[result.history["val_accuracy"].idxmax()]
    assert best["chosen"] and Genotype.from_json(best["genotype"]) == result.winner
    calls.clear()
    default = random_search(SearchSpace.full(), train_split, val_split, spec=TINY, seed=0)
    assert len(calls) == default.candidates_trained == TINY.candidates_trained  # FUSE's budget
    assert calls == [TINY.epochs_per_candidate] * TINY.candidates_trained


def test_train_final_reports_test_accuracy_and_parameters(digits):
    train_split, val_split, test_split = digits
    g = cell((0, 1, "sep_conv_3x3"), (0, 2, "skip_connect"), (1, 2, "max_pool_3x3"))
    out = train_final(g, train_split, val_split, test_split, spec=TINY, seed=0)
    assert 0 <= out["test_accuracy"] <= 1 and len(out["history"]) == TINY.final_epochs
    assert out["params"] == sum(p.numel() for p in build(g, TINY.net, 1, 3, seed=0).parameters())


# ---------------------------------------------------------------------------------------
# complexity distance


@pytest.fixture(scope="module")
def clustered():
    """400 examples of 4 well-separated Gaussian classes in 16 dimensions."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 4
    centres = 4.0 * torch.randn(4, 16, generator=gen)
    return centres[labels] + torch.randn(400, 16, generator=gen), labels


CX = dict(hidden=(48, 16), epochs=40, finetune_epochs=3)


def test_complexity_distance_is_small_for_a_task_with_itself_and_large_for_unrelated_features(clustered):
    z, y = clustered
    same = complexity_distance(z, z, y, seed=0, **CX)
    noise = complexity_distance(torch.randn(400, 16, generator=torch.Generator().manual_seed(1)), z, y, seed=0, **CX)
    assert 0.0 < same <= 0.2
    assert noise == 1.0
    assert complexity_distance(z, z, y, seed=0, **CX) == same  # seeded


def test_complexity_distance_rejects_bad_input(clustered):
    z, y = clustered
    with pytest.raises(ValueError, match="features_a"):
        complexity_distance(z[:10], z, y, seed=0)
    with pytest.raises(ValueError, match="prune_step"):
        complexity_distance(z, z, y, seed=0, prune_step=1.5)
    with pytest.raises(ValueError, match="non-negative integers"):
        complexity_distance(z, z, y.float(), seed=0)


def test_a_workflow_search_needs_base_cells_exactly_when_task_aware():
    from taskdist import stages

    base = {"b": {"genotype": cell((0, 1, "skip_connect")).to_dict()}}
    with pytest.raises(ValueError, match="only by them"):
        stages.nas_search("task_aware", None, None, None, TINY, 0, "cpu")
    with pytest.raises(ValueError, match="only by them"):
        stages.nas_search("full", None, None, None, TINY, 0, "cpu", base_cells=base)
