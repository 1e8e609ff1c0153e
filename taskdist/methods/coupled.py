"""Coupled transfer distance (Gao & Chaudhari, ICML 2021): the length of the path that carries one task into another.

For an ordered pair (source, target) with ``n`` samples of each:

- **Head.** ``N_source`` gets one head over the *union of class identities*
  (``head: union``, the default): a target label that names a source class
  (the same set of original class names, e.g. digit ``3`` of MNIST and of
  scikit-learn's digits) keeps the source's output row; a new class gets a
  new row. With disjoint classes this is the authors' 10-way head (source
  classes relabelled 0-4, target 5-9); the paper mixes one-hot labels
  linearly in one label space, which needs one output per class identity.
  ``head: disjoint`` (the head of taskdist before, kept to reproduce it)
  gives every target label a new row even when its class is a source's: a
  path to an independent resample must then move every confident prediction
  from one output to another, about π of Fisher-Rao length per sample
  whatever the tasks, which hides the task difference (floor/between ratios
  0.9-1.2 on the default experiment).
- **Coupling.** The samples are split into blocks (``block x block``, in a
  seeded random order); each block gets its own coupling ``Γ_k`` between its
  source and target samples, so ``Γ`` is block-diagonal with every sample's
  weight ``1/n`` as its marginal. The first ``Γ`` is entropic optimal
  transport on the cosine dissimilarity of the source network's features
  (:func:`initial_coupling`; log-domain Sinkhorn in torch, :func:`sinkhorn_log`:
  POT is not imported, its import costs 1.6-2 CPU-s per job). The authors
  take the features of an ImageNet ResNet-50; here the source network's own
  body (no pretrained network is assumed).
- **Path.** For each ``τ`` of an arcsine schedule (:func:`schedule`, dense
  near 0 and 1) it takes ``steps_per_tau`` optimiser steps (Adam by default;
  ``optimizer: sgd``, the authors' SGD) on interpolated inputs
  ``(1-τ) x_s + τ x_t`` of pairs drawn from ``Γ``, with loss
  ``(1-τ) CE(y_s) + τ CE(y_t)``. The authors move τ every SGD step (momentum
  0.9, weight decay 5e-4) over 20,000 steps; here τ is held for
  ``steps_per_tau`` steps (a CPU budget: see ``configs/gao_authors_scale.yaml``
  for the authors' scale). Adam's normalised steps keep moving the
  predictions of a task that is already fit, which adds a little to every
  length, a resample's included; SGD's steps shrink with the gradient.
- **Length.** Each pair's length is the sum over the schedule of
  ``sqrt(2 KL(p_{w_{k-1}} || p_{w_k}))`` on the pair's interpolated input at
  ``τ_k`` (the Fisher-Rao element, ``ds² = 2 KL``); the distance is the
  ``Γ``-weighted total ``Σ Γ_ij ℓ_ij``. Every pair of every block is
  evaluated, so the lengths are exact sums, not samples. **Units:** the
  authors' code accumulates ``sqrt(relu(KL)) / 100`` over 100 partitions, so
  on a fine schedule their value is this one divided by ``100 sqrt(2)``
  (≈ 141); rankings are unchanged.
- **Outer iterations** re-solve each block's ``Γ`` from the pairs' lengths by
  a proximal (KL-regularised) OT step (:func:`proximal_coupling`) with ``ε``
  = ``proximal`` times the *spread* (standard deviation) of the block's
  lengths, so that the step moves as far whatever the lengths' common
  offset; each iteration's record says how much mass moved. The authors
  re-solve ``<Γ, C> + reg/2 |Γ - Γ_old|²`` (``ot.optim.cg``, ``reg = 0.05 ·
  5^iteration``): nearly exact re-solves early on; a small ``proximal`` does
  the same here. Each iteration retrains the path from ``N_source``; the
  distance is that of the last iteration (not the smallest, which would
  favour ``coupled`` by selection).

Method ``uncoupled`` is the paper's: SGD on samples of the *mixture*
``(1-τ) p̂_s + τ p̂_t`` (each sample of a batch from the source with
probability ``1-τ`` with its source label, otherwise from the target), its
length the mixture's expectation of the per-sample step lengths at each
``τ_k``. ``finetune_length`` measures the same length along plain
fine-tuning on the target (``τ = 1`` throughout, target inputs only). The
three share the samples, the schedule of steps and batch sizes, the head and
its initialisation and the seed of a pair, so their lengths are comparable.

Why one module of over 500 lines: the three methods are one path with three ways of moving along it, and
the coupling, the head and the length are read together as the definition of that path (the paper's one
section); split, each part would import the others' details.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from taskdist.methods.registry import PATH_METHODS, PATH_READS
from taskdist.progress import Progress
from taskdist.seeds import stable_seed

if TYPE_CHECKING:
    import torch

    from taskdist.nets import models
    from taskdist.specs import CoupledSpec

log = logging.getLogger(__name__)

VERSION = 2
"""Version of the path lengths (methods coupled, uncoupled, finetune_length); raised when what they compute
changes.

2: the head over the union of class identities (``head``), ``uncoupled`` on the mixture of the two tasks' samples,
the proximal step's ε relative to the spread of the lengths, Sinkhorn in torch.
"""

SINKHORN_ITERATIONS = 1_000
"""Sinkhorn iterations of a coupling at most. Small ε on near-tied costs converges slowly (a marginal error of
about 3e-4 in L1 after 1,000 iterations on the tiny experiment's blocks, 5e-5 after 5,000, POT's limit, which every
block reached before); :func:`_round` then puts the plan on its marginals exactly."""

HEADS = ("union", "disjoint")
"""The path's head: one output per class identity of either task, or the source's outputs followed by one new
output per target label."""

def spec_of(method: str, params: dict) -> CoupledSpec:
    """The spec a job runs from its :func:`reads` params; settings ``method`` does not read are None."""
    import dataclasses

    from taskdist.specs import CoupledSpec

    return CoupledSpec(**{f.name: params[f.name] if f.name in PATH_READS[method] else None
                          for f in dataclasses.fields(CoupledSpec)})


def schedule(steps: int) -> np.ndarray:
    """``steps + 1`` values of τ from 0 to 1, ``τ_k = sin²(π k / 2 steps)``: an arcsine schedule, dense near both
    ends where the interpolated task changes fastest relative to either end."""
    if steps < 1:
        raise ValueError(f"the schedule needs at least 1 step, got {steps}")
    return np.sin(np.pi * np.arange(steps + 1) / (2 * steps)) ** 2


def blocks(n: int, size: int) -> list[np.ndarray]:
    """Positions ``0..n-1`` in ``ceil(n / size)`` consecutive blocks of nearly equal size (at most ``size``)."""
    if n < 1 or size < 1:
        raise ValueError(f"need n >= 1 samples and a block size >= 1, got {n} and {size}")
    return np.array_split(np.arange(n), math.ceil(n / size))


def cosine_cost(z_source: np.ndarray, z_target: np.ndarray) -> np.ndarray:
    """``1 - cos(z_s, z_t)`` for every source row against every target row: ``(n_source, n_target)`` in [0, 2].

    A zero feature vector (a dead ReLU layer) has no direction: it is
    dissimilar (cost 1) to every vector, itself included.
    """
    zs = np.asarray(z_source, dtype=np.float64)
    zt = np.asarray(z_target, dtype=np.float64)
    us = zs / np.maximum(np.linalg.norm(zs, axis=1, keepdims=True), 1e-12)
    ut = zt / np.maximum(np.linalg.norm(zt, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - us @ ut.T, 0.0, 2.0)


def block_costs(z_source: np.ndarray, z_target: np.ndarray, parts: list[np.ndarray]) -> list[np.ndarray]:
    """The cosine cost of each block's pairs, computed block by block (never the whole ``n x n`` matrix): block
    ``k`` couples source samples ``parts[k]`` with target samples ``parts[k]``."""
    return [cosine_cost(np.asarray(z_source)[p], np.asarray(z_target)[p]) for p in parts]


def independent_coupling(parts: list[np.ndarray]) -> list[np.ndarray]:
    """The independent coupling of each block: every pair of a block of ``b`` gets ``1 / (b n)``."""
    n = sum(len(p) for p in parts)
    return [np.full((len(p), len(p)), 1.0 / (len(p) * n)) for p in parts]


def initial_coupling(costs: list[np.ndarray], reg: float) -> list[np.ndarray]:
    """Entropic OT per block (log-domain Sinkhorn, :func:`sinkhorn_log`), ``reg`` relative to the block's mean
    cost.

    Each sample's weight is ``1 / n`` (``n`` samples over all blocks), so a
    block of ``b`` carries mass ``b / n``.
    """
    return _solve(costs, [np.zeros_like(c) for c in costs], reg)


def proximal_coupling(gammas: list[np.ndarray], costs: list[np.ndarray], step: float) -> list[np.ndarray]:
    """One proximal OT step per block: ``argmin <Γ, C> + ε KL(Γ || Γ_old)`` under the same marginals.

    ``ε = step`` times the standard deviation of the block's costs: scale-free, and blind to a common offset of
    the lengths (relative to their mean, an offset that every pair pays makes the step timid). The minimiser is
    Sinkhorn's with the kernel ``Γ_old ⊙ exp(-C / ε)``, i.e. entropic OT with cost ``C - ε log Γ_old``. Small
    ``step``: a large move towards the exact OT plan of ``C`` (the authors' early iterations); large: ``Γ`` stays
    near ``Γ_old``.
    """
    if len(gammas) != len(costs):
        raise ValueError(f"{len(gammas)} couplings for {len(costs)} cost blocks")
    return _solve(costs, [np.log(np.maximum(g, 1e-300)) for g in gammas], step, scale="spread")


def moved(old: list[np.ndarray], new: list[np.ndarray]) -> float:
    """The share of the coupling's mass that an update moved: ``½ Σ |Γ_new - Γ_old|`` (total variation; 0 for no
    move, 1 for plans with disjoint supports)."""
    return float(0.5 * sum(np.abs(a - b).sum() for a, b in zip(old, new, strict=True)))


def _solve(costs: list[np.ndarray], log_prior: list[np.ndarray], reg: float, scale: str = "mean") -> list[np.ndarray]:
    """Entropic OT of each block with kernel ``exp(log_prior - C / ε)``, ``ε = reg`` times the block's mean cost
    (``scale="mean"``) or the standard deviation of its costs (``"spread"``); a block whose costs are all equal
    keeps its prior (every plan is optimal). Blocks of one size are solved together (:func:`sinkhorn_log`)."""
    if not reg > 0:
        raise ValueError(f"the entropic regularisation must be > 0, got {reg}")
    n = sum(len(c) for c in costs)
    out: list[np.ndarray | None] = [None] * len(costs)
    batches: dict[int, list[tuple[int, np.ndarray]]] = {}
    for k, (c, prior) in enumerate(zip(costs, log_prior, strict=True)):
        if c.ndim != 2 or c.shape[0] != c.shape[1]:
            raise ValueError(f"a block's cost must be square, got shape {c.shape}")
        b = len(c)
        size = float(c.mean()) if scale == "mean" else float(c.std())
        if scale != "mean" and size <= 1e-12:
            plan = np.exp(prior - prior.max())
            out[k] = _round(plan / plan.sum(), np.full(b, 1.0 / b)) * (b / n)
            continue
        eps = reg * max(size, 1e-12)
        # divided by ε: a constant added to the cost changes no plan
        batches.setdefault(b, []).append((k, c / eps - (prior - prior.max())))
    for b, items in batches.items():
        w = np.full(b, 1.0 / b)
        plans = sinkhorn_log(w, w, np.stack([c for _, c in items]), 1.0, max_iter=SINKHORN_ITERATIONS)
        for (k, _), plan in zip(items, plans, strict=True):
            out[k] = _round(plan, w) * (b / n)
    return out


def sinkhorn_log(a: np.ndarray, b: np.ndarray, cost: np.ndarray, eps: float, max_iter: int = 5_000,
                 tol: float = 1e-7) -> np.ndarray:
    """Entropic OT plan between weights ``a`` and ``b`` for ``cost`` at regularisation ``eps``: Sinkhorn's
    iterations on the dual potentials in the log domain (stable for small ``eps``), in torch float64.

    ``cost`` is ``(n_a, n_b)`` or a stack ``(k, n_a, n_b)`` of problems with the same weights, solved together.
    The plan ``exp((f_i + g_j - C_ij) / ε)`` is POT's ``ot.sinkhorn(..., method="sinkhorn_log")``; it stops when
    every problem's row marginals are within ``tol`` (L1) of ``a``, or after ``max_iter`` iterations (the caller
    rounds the plan onto the marginals exactly, :func:`_round`).
    """
    import torch

    C = torch.from_numpy(np.asarray(cost, dtype=np.float64)) / eps
    single = C.ndim == 2
    C = C[None] if single else C
    log_a = torch.log(torch.from_numpy(np.asarray(a, dtype=np.float64)))
    log_b = torch.log(torch.from_numpy(np.asarray(b, dtype=np.float64)))
    g = torch.zeros(C.shape[0], C.shape[2], dtype=torch.float64)  # potentials divided by eps
    for it in range(max_iter):
        f = log_a - torch.logsumexp(g[:, None, :] - C, dim=2)
        g = log_b - torch.logsumexp(f[:, :, None] - C, dim=1)
        if it % 10 == 9:
            rows = torch.exp(f[:, :, None] + g[:, None, :] - C).sum(dim=2)
            if float((rows - log_a.exp()).abs().sum(dim=1).max()) < tol:
                break
    plan = torch.exp(f[:, :, None] + g[:, None, :] - C).numpy()
    return plan[0] if single else plan


def _round(plan: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The nearest coupling with both marginals exactly ``w`` to an approximate Sinkhorn ``plan``.

    Sinkhorn from a sharp prior (a near-permutation ``Γ_old``) converges
    slowly; Altschuler, Weed & Rigollet's rounding (NeurIPS 2017, Alg. 2)
    scales down rows and columns that carry too much and spreads the missing
    mass as a rank-one term, changing the plan by at most the marginal error.
    """
    plan = plan * np.minimum(1.0, w / np.maximum(plan.sum(axis=1), 1e-300))[:, None]
    plan = plan * np.minimum(1.0, w / np.maximum(plan.sum(axis=0), 1e-300))[None, :]
    rows = np.maximum(w - plan.sum(axis=1), 0.0)  # >= 0 but for rounding errors
    cols = np.maximum(w - plan.sum(axis=0), 0.0)
    missing = rows.sum()
    if missing > 0:
        plan = plan + np.outer(rows, cols) / missing
    log.debug("coupling rounded: marginal error %.2e", missing)
    return plan


def marginals(gammas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column sums of the block-diagonal ``Γ``, in sample order (block by block)."""
    return (np.concatenate([g.sum(axis=1) for g in gammas]), np.concatenate([g.sum(axis=0) for g in gammas]))


def summary(gammas: list[np.ndarray]) -> dict:
    """What a coupling looks like: blocks, their sizes, and how concentrated each source sample's row is.

    ``perplexity``: mean over source samples of ``exp(H(row)) / b`` (1 for the
    independent coupling, ``1/b`` for a permutation); ``max_share``: mean over
    source samples of the largest share of the row held by one target sample.
    """
    perplexities, shares = [], []
    for g in gammas:
        rows = g / g.sum(axis=1, keepdims=True)
        entropy = -np.sum(np.where(rows > 0, rows * np.log(np.maximum(rows, 1e-300)), 0.0), axis=1)
        perplexities.append(np.exp(entropy) / len(g))
        shares.append(rows.max(axis=1))
    return {"blocks": len(gammas), "block_sizes": [len(g) for g in gammas],
            "perplexity": float(np.mean(np.concatenate(perplexities))),
            "max_share": float(np.mean(np.concatenate(shares)))}


@dataclass(frozen=True)
class PathResult:
    """One trained path: each pair's length per block, and the trace along the schedule.

    ``lengths[k]`` is ``(b_k, b_k)`` (source by target sample of block
    ``k``) for a coupled path; plain fine-tuning has one ``(n,)`` array (its
    target samples);
    ``trace`` has ``tau``, ``length`` (the ``Γ``-weighted cumulative length),
    ``source_accuracy`` and ``target_accuracy`` per point of the schedule.
    """

    lengths: list[np.ndarray]
    trace: dict[str, list[float]]


def class_identities(labels: np.ndarray, original: np.ndarray, class_names: tuple[str, ...] | list[str]) -> list:
    """Each task label's class identity: the sorted names of the original classes it holds.

    ``labels`` are a task's labels (0..K-1), ``original`` the dataset class of each of the same examples,
    ``class_names`` the dataset's names by class. Two tasks' labels are the same class when they hold the same
    named classes, whatever the dataset (digit ``3`` of MNIST and of scikit-learn's digits).
    """
    labels, original = np.asarray(labels), np.asarray(original)
    if labels.shape != original.shape:
        raise ValueError(f"labels and original classes must match, got shapes {labels.shape} and {original.shape}")
    return [tuple(sorted({str(class_names[c]) for c in np.unique(original[labels == k])}))
            for k in range(int(labels.max()) + 1)]


def head_outputs(source_classes: list | None, target_classes: list | None, n_source: int, n_target: int,
                 head: str) -> tuple[np.ndarray, int]:
    """Which output of the path's head each target label trains, and how many new outputs the head needs.

    ``union``: a target label whose class identity is a source label's keeps that source output; every other
    target label gets a new output after the ``n_source`` source outputs. ``disjoint`` (or unknown identities,
    None): every target label gets a new output. Returns ``(outputs, n_new)``, ``outputs[t]`` the output of
    target label ``t``.
    """
    if head not in HEADS:
        raise ValueError(f"the path's head must be one of {HEADS}, got {head!r}")
    known = {}
    if head == "union" and source_classes is not None and target_classes is not None:
        if len(source_classes) != n_source or len(target_classes) != n_target:
            raise ValueError(f"class identities for {len(source_classes)} source and {len(target_classes)} target "
                             f"labels, the tasks have {n_source} and {n_target}")
        known = {c: i for i, c in enumerate(source_classes)}
    outputs, n_new = np.zeros(n_target, dtype=np.int64), 0
    for t in range(n_target):
        c = target_classes[t] if known else None
        if c in known:
            outputs[t] = known[c]
        else:
            outputs[t] = n_source + n_new
            n_new += 1
    return outputs, n_new


def joint_head(net: models.TaskNet, n_new: int, seed: int) -> models.TaskNet:
    """A copy of ``net`` whose head outputs its own labels followed by ``n_new`` new ones.

    The source rows keep the trained head; the new rows are initialised
    as :meth:`~taskdist.nets.models.TaskNet.with_new_head` does, from ``seed``.
    """
    import torch

    n_source = net.n_classes
    fresh = net.with_new_head(n_source + n_new, seed=seed)
    with torch.no_grad():
        fresh.head.weight[:n_source] = net.head.weight
        fresh.head.bias[:n_source] = net.head.bias
    return fresh.to(net.head.weight.device)


PATHS = ("coupled", "mixture", "finetune")
"""How a path moves: interpolated pairs of a coupling, samples of the mixture of the tasks, the target alone."""


def train_path(
    net: models.TaskNet,
    source: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
    parts: list[np.ndarray] | None,
    gammas: list[np.ndarray] | None,
    spec: CoupledSpec,
    seed: int,
    kind: str | None = None,
) -> PathResult:
    """Train ``net`` (a :func:`joint_head` network, changed in place) along the path and measure its length.

    ``source`` and ``target`` are ``(images, labels)`` of ``n`` samples each, the labels already the head's
    outputs (:func:`head_outputs`); ``parts`` the blocks of :func:`blocks`. ``kind`` (:data:`PATHS`; by default
    ``coupled`` with ``gammas``, else ``finetune``): ``coupled`` interpolates pairs drawn from the coupling
    ``gammas``; ``mixture`` trains on samples of ``(1-τ) p̂_s + τ p̂_t`` (``uncoupled``); ``finetune`` is
    plain fine-tuning on the target samples (``finetune_length``). Batches come from a generator seeded with
    ``seed``.
    """
    import torch
    from torch.nn import functional as F

    from taskdist.nets.optim import Adam

    kind = kind or ("coupled" if gammas is not None else "finetune")
    if kind not in PATHS:
        raise ValueError(f"the path must be one of {PATHS}, got {kind!r}")
    xs, ys = source
    xt, yt = target
    if len(xs) != len(xt):
        raise ValueError(f"the path needs as many source as target samples, got {len(xs)} and {len(xt)}")
    n = len(xt)
    device = next(net.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    coupled = kind == "coupled"
    if coupled:  # every pair of every block, block by block: source position, target position, weight
        pair_s = torch.from_numpy(np.concatenate([np.repeat(p, len(p)) for p in parts]))
        pair_t = torch.from_numpy(np.concatenate([np.tile(p, len(p)) for p in parts]))
        weights = np.concatenate([g.ravel() for g in gammas])
        draw = torch.from_numpy(weights)
        lengths = np.zeros(len(pair_s))  # each pair's length so far
    elif kind == "mixture":
        x_both = torch.cat([xs, xt])
        lengths = np.zeros(1)  # the mixture's expected length so far
    else:
        lengths = np.zeros(n)  # each target sample's length so far
    if spec.optimizer == "sgd":  # the authors': momentum 0.9, weight decay 5e-4
        opt = torch.optim.SGD(net.parameters(), lr=spec.lr, momentum=0.9, weight_decay=5e-4)
    else:
        opt = Adam(net.parameters(), lr=spec.lr)
    trace = {"tau": [], "length": [], "source_accuracy": [], "target_accuracy": []}

    def record(tau: float) -> None:
        trace["tau"].append(float(tau))
        trace["length"].append(float(weights @ lengths) if coupled else float(lengths.mean()))
        trace["source_accuracy"].append(_accuracy(net, xs, ys))
        trace["target_accuracy"].append(_accuracy(net, xt, yt))

    record(0.0)
    taus = schedule(spec.steps)[1:]
    progress = Progress("path", len(taus), "steps of tau", logger=log)
    for tau in taus:
        if coupled:
            x_eval = (1.0 - tau) * xs[pair_s] + tau * xt[pair_t]  # (pairs, C, H, W)
        else:
            x_eval = x_both if kind == "mixture" else xt  # (2n or n, C, H, W)
        before = _log_probs(net, x_eval)
        net.train()
        for _ in range(spec.steps_per_tau):
            if coupled:
                idx = torch.multinomial(draw, spec.batch_size, replacement=True, generator=gen)
                i, j = pair_s[idx], pair_t[idx]
                logits = net(((1.0 - tau) * xs[i] + tau * xt[j]).to(device))
                loss = ((1.0 - tau) * F.cross_entropy(logits, ys[i].to(device))
                        + tau * F.cross_entropy(logits, yt[j].to(device)))
            elif kind == "mixture":
                from_target = torch.rand(spec.batch_size, generator=gen) < tau
                k = torch.randint(n, (spec.batch_size,), generator=gen)
                x = torch.where(from_target[:, None, None, None], xt[k], xs[k])
                y = torch.where(from_target, yt[k], ys[k])
                loss = F.cross_entropy(net(x.to(device)), y.to(device))
            else:
                j = torch.randint(n, (spec.batch_size,), generator=gen)
                loss = F.cross_entropy(net(xt[j].to(device)), yt[j].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        after = _log_probs(net, x_eval)
        kl = (before.exp() * (before - after)).sum(dim=1).clamp_min(0.0)  # KL(p_{k-1} || p_k) per input
        step = torch.sqrt(2.0 * kl).double().numpy()
        if kind == "mixture":  # the step's length under the mixture at tau: source samples 1 - tau, target tau
            lengths += (1.0 - tau) * step[:n].mean() + tau * step[n:].mean()
        else:
            lengths += step
        record(tau)
        progress.advance()
    progress.end()
    if not coupled:
        return PathResult([lengths], trace)
    ends = np.cumsum([len(p) ** 2 for p in parts])[:-1]
    return PathResult([ell.reshape(len(p), len(p)) for ell, p in zip(np.split(lengths, ends), parts, strict=True)],
                      trace)


def _log_probs(net: models.TaskNet, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Log-softmax of ``net`` on ``x`` in eval mode, on the CPU: ``(N, classes)``."""
    import torch

    device = next(net.parameters()).device
    net.eval()
    with torch.no_grad():
        out = [torch.log_softmax(net(x[i : i + batch_size].to(device)), dim=1).cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def _accuracy(net: models.TaskNet, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((_log_probs(net, x).argmax(1) == y).double().mean())


def weighted_length(gammas: list[np.ndarray], lengths: list[np.ndarray]) -> float:
    """``Σ_ij Γ_ij ℓ_ij`` over all blocks."""
    return float(sum(np.sum(g * ell) for g, ell in zip(gammas, lengths, strict=True)))


def distance(
    method: str,
    net: models.TaskNet,
    source: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
    spec: CoupledSpec,
    seed: int,
    classes: tuple[list, list] | None = None,
) -> dict:
    """The ``method`` distance from the task of ``net`` (``N_source``, unchanged) to the target samples.

    ``source`` and ``target`` are ``(images, labels)`` of the source's train
    examples and the target's labelled examples; ``n = min(spec.samples, both
    sizes)`` of each are drawn with ``seed`` (the same for every method of a
    pair, as are the target head's initialisation and the batches).
    ``classes``: the class identities of the source's and the target's labels
    (:func:`class_identities`), which ``spec.head == "union"`` merges; None:
    every target label is a new class. Returns the
    record values: ``distance``, ``samples``, ``head`` (``shared``: target
    labels that keep a source output, ``new``: new outputs), ``path`` (the
    last iteration's trace, :class:`PathResult`), ``iterations`` (each outer
    iteration's distance, coupling summary and, after an update, the share of
    mass it ``moved``) and ``coupling`` (the final ``Γ``'s summary; None but
    for ``coupled``).
    """
    import torch

    from taskdist.nets.models import features

    if method not in PATH_METHODS:
        raise ValueError(f"method must be one of {PATH_METHODS}, got {method!r}")
    n = min(spec.samples, len(source[1]), len(target[1]))
    if n < 2:
        raise ValueError(f"the path needs at least 2 samples of each task, got {len(source[1])} source and "
                         f"{len(target[1])} target examples")
    rng = np.random.default_rng(stable_seed(seed, "samples"))
    pick_s = torch.from_numpy(rng.permutation(len(source[1]))[:n])
    pick_t = torch.from_numpy(rng.permutation(len(target[1]))[:n])
    xs, ys = source[0][pick_s], source[1][pick_s]
    xt, yt = target[0][pick_t], target[1][pick_t]
    n_target = int(target[1].max()) + 1
    outputs, n_new = head_outputs(*(classes or (None, None)), net.n_classes, n_target, spec.head)
    yt = torch.from_numpy(outputs)[yt]
    head = {"shared": int(n_target - n_new), "new": int(n_new)}

    def path(parts: list[np.ndarray] | None, gammas: list[np.ndarray] | None, kind: str) -> PathResult:
        fresh = joint_head(net, n_new, stable_seed(seed, "head"))
        return train_path(fresh, (xs, ys), (xt, yt), parts, gammas, spec, stable_seed(seed, "path"), kind)

    if method != "coupled":
        result = path(None, None, "finetune" if method == "finetune_length" else "mixture")
        value = float(result.lengths[0].mean())
        log.info("%s: %.4f over %d samples per task; target accuracy at the end %.3f", method, value, n,
                 result.trace["target_accuracy"][-1])
        return {"distance": value, "samples": n, "head": head, "path": result.trace,
                "iterations": [{"distance": value}], "coupling": None}

    parts = blocks(n, spec.block)
    z_s, z_t = features(net.body, xs).cpu().numpy(), features(net.body, xt).cpu().numpy()  # (n, hidden) each
    gammas = initial_coupling(block_costs(z_s, z_t, parts), spec.entropy)
    iterations = []
    for it in range(spec.outer):
        result = path(parts, gammas, "coupled")
        value = weighted_length(gammas, result.lengths)
        iterations.append({"distance": value, **summary(gammas)})
        log.info("coupled iteration %d/%d: length %.4f, coupling perplexity %.3f, target accuracy at the end %.3f",
                 it + 1, spec.outer, value, iterations[-1]["perplexity"], result.trace["target_accuracy"][-1])
        if it + 1 < spec.outer:
            new = proximal_coupling(gammas, result.lengths, spec.proximal)
            iterations[-1]["moved"] = moved(gammas, new)
            iterations[-1]["predicted"] = weighted_length(new, result.lengths)  # the new plan on these lengths
            log.info("coupling update moved %.3f of the mass; on this path's lengths %.4f -> %.4f",
                     iterations[-1]["moved"], value, iterations[-1]["predicted"])
            gammas = new
    return {"distance": iterations[-1]["distance"], "samples": n, "head": head, "path": result.trace,
            "iterations": iterations, "coupling": summary(gammas)}
