"""Coupled transfer distance (Gao & Chaudhari, ICML 2021): the length of the path that carries one task into another.

For an ordered pair (source, target) with ``n`` samples of each:

- **Coupling.** The samples are split into blocks (``block x block``, in a
  seeded random order); each block gets its own coupling ``Γ_k`` between its
  source and target samples, so ``Γ`` is block-diagonal with every sample's
  weight ``1/n`` as its marginal. The first ``Γ`` is entropic optimal
  transport on the cosine dissimilarity of the source network's features
  (:func:`initial_coupling`, POT's Sinkhorn).
- **Path.** ``N_source`` gets one head over the source labels followed by
  the target labels (disjoint blocks even when classes overlap). For each
  ``τ`` of an arcsine schedule (:func:`schedule`, dense near 0 and 1) it
  takes ``steps_per_tau`` Adam steps on interpolated inputs
  ``(1-τ) x_s + τ x_t`` of pairs drawn from ``Γ``, with loss
  ``(1-τ) CE(y_s) + τ CE(y_t)``.
- **Length.** Each pair's length is the sum over the schedule of
  ``sqrt(2 KL(p_{w_{k-1}} || p_{w_k}))`` on the pair's interpolated input at
  ``τ_k`` (the Fisher–Rao element, ``ds² = 2 KL``); the distance is the
  ``Γ``-weighted total ``Σ Γ_ij ℓ_ij``. Every pair of every block is
  evaluated, so the lengths are exact sums, not samples.
- **Outer iterations** re-solve each block's ``Γ`` from the pairs' lengths by
  a proximal (KL-regularised) OT step (:func:`proximal_coupling`) and
  retrain the path from ``N_source``; the distance is that of the last
  iteration (not the smallest, which would favour ``coupled`` by selection).

Method ``uncoupled`` fixes ``Γ`` to the independent coupling of each block;
``finetune_length`` measures the same length along plain fine-tuning on the
target (``τ = 1`` throughout, target inputs only). The three share the
samples, the schedule of steps and batch sizes, the head initialisation and
the seed of a pair, so their lengths are comparable.
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

VERSION = 1
"""Version of the path lengths (methods coupled, uncoupled, finetune_length); raised when what they compute
changes."""

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
    """Entropic OT per block (POT's log-domain Sinkhorn), ``reg`` relative to the block's mean cost.

    Each sample's weight is ``1 / n`` (``n`` samples over all blocks), so a
    block of ``b`` carries mass ``b / n``.
    """
    return _solve(costs, [np.zeros_like(c) for c in costs], reg)


def proximal_coupling(gammas: list[np.ndarray], costs: list[np.ndarray], step: float) -> list[np.ndarray]:
    """One proximal OT step per block: ``argmin <Γ, C> + ε KL(Γ || Γ_old)`` under the same marginals.

    ``ε = step`` times the block's mean cost (scale-free). The minimiser is
    Sinkhorn's with the kernel ``Γ_old ⊙ exp(-C / ε)``, i.e. entropic OT with
    cost ``C - ε log Γ_old``. Small ``step``: a large move towards the exact
    OT plan of ``C``; large: ``Γ`` stays near ``Γ_old``.
    """
    if len(gammas) != len(costs):
        raise ValueError(f"{len(gammas)} couplings for {len(costs)} cost blocks")
    return _solve(costs, [np.log(np.maximum(g, 1e-300)) for g in gammas], step)


def _solve(costs: list[np.ndarray], log_prior: list[np.ndarray], reg: float) -> list[np.ndarray]:
    from taskdist.methods import pot as ot  # POT's solver only, here: reading the records does not import it

    if not reg > 0:
        raise ValueError(f"the entropic regularisation must be > 0, got {reg}")
    n = sum(len(c) for c in costs)
    out = []
    for c, prior in zip(costs, log_prior, strict=True):
        if c.ndim != 2 or c.shape[0] != c.shape[1]:
            raise ValueError(f"a block's cost must be square, got shape {c.shape}")
        b = len(c)
        eps = reg * max(float(c.mean()), 1e-12)
        w = np.full(b, 1.0 / b)
        cost = c - eps * (prior - prior.max())  # a constant added to the cost changes no plan
        plan = ot.sinkhorn(w, w, cost, eps, method="sinkhorn_log", numItermax=5_000, stopThr=1e-9, warn=False)
        plan = _round(np.asarray(plan, dtype=np.float64), w)
        out.append(plan * (b / n))
    return out


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


def joint_head(net: models.TaskNet, n_target: int, seed: int) -> models.TaskNet:
    """A copy of ``net`` whose head outputs its own labels followed by ``n_target`` new ones.

    The source rows keep the trained head; the target rows are initialised
    as :meth:`~taskdist.nets.models.TaskNet.with_new_head` does, from ``seed``.
    """
    import torch

    n_source = net.n_classes
    fresh = net.with_new_head(n_source + n_target, seed=seed)
    with torch.no_grad():
        fresh.head.weight[:n_source] = net.head.weight
        fresh.head.bias[:n_source] = net.head.bias
    return fresh.to(net.head.weight.device)


def train_path(
    net: models.TaskNet,
    n_source: int,
    source: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
    parts: list[np.ndarray],
    gammas: list[np.ndarray] | None,
    spec: CoupledSpec,
    seed: int,
) -> PathResult:
    """Train ``net`` (a :func:`joint_head` network over ``n_source`` source labels, changed in place) along the
    path and measure its length.

    ``source`` and ``target`` are ``(images, labels)`` of ``n`` samples each,
    target labels counted from 0 (shifted past the source's here); ``parts``
    the blocks of :func:`blocks`. With ``gammas`` the path interpolates pairs
    drawn from the coupling; with None it is plain fine-tuning on the target
    samples (``finetune_length``). Batches come from a generator seeded with
    ``seed``.
    """
    import torch
    from torch.nn import functional as F

    from taskdist.nets.optim import Adam

    xs, ys = source
    xt, yt = target
    if len(xs) != len(xt):
        raise ValueError(f"the path needs as many source as target samples, got {len(xs)} and {len(xt)}")
    yt = yt + n_source
    device = next(net.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    coupled = gammas is not None
    if coupled:  # every pair of every block, block by block: source position, target position, weight
        pair_s = torch.from_numpy(np.concatenate([np.repeat(p, len(p)) for p in parts]))
        pair_t = torch.from_numpy(np.concatenate([np.tile(p, len(p)) for p in parts]))
        weights = np.concatenate([g.ravel() for g in gammas])
        draw = torch.from_numpy(weights)
    opt = Adam(net.parameters(), lr=spec.lr)
    lengths = np.zeros(len(pair_s) if coupled else len(xt))  # each pair's (or target sample's) length so far
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
        x_eval = (1.0 - tau) * xs[pair_s] + tau * xt[pair_t] if coupled else xt  # (pairs or n, C, H, W)
        before = _log_probs(net, x_eval)
        net.train()
        for _ in range(spec.steps_per_tau):
            if coupled:
                idx = torch.multinomial(draw, spec.batch_size, replacement=True, generator=gen)
                i, j = pair_s[idx], pair_t[idx]
                logits = net(((1.0 - tau) * xs[i] + tau * xt[j]).to(device))
                loss = ((1.0 - tau) * F.cross_entropy(logits, ys[i].to(device))
                        + tau * F.cross_entropy(logits, yt[j].to(device)))
            else:
                j = torch.randint(len(xt), (spec.batch_size,), generator=gen)
                loss = F.cross_entropy(net(xt[j].to(device)), yt[j].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        after = _log_probs(net, x_eval)
        kl = (before.exp() * (before - after)).sum(dim=1).clamp_min(0.0)  # KL(p_{k-1} || p_k) per input
        lengths += torch.sqrt(2.0 * kl).double().numpy()
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
) -> dict:
    """The ``method`` distance from the task of ``net`` (``N_source``, unchanged) to the target samples.

    ``source`` and ``target`` are ``(images, labels)`` of the source's train
    examples and the target's labelled examples; ``n = min(spec.samples, both
    sizes)`` of each are drawn with ``seed`` (the same for every method of a
    pair, as are the target head's initialisation and the batches). Returns the
    record values: ``distance``, ``samples``, ``path`` (the last iteration's
    trace, :class:`PathResult`), ``iterations`` (each outer iteration's
    distance and coupling summary) and ``coupling`` (the final ``Γ``'s
    summary; None for ``finetune_length``).
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

    def path(parts: list[np.ndarray] | None, gammas: list[np.ndarray] | None) -> PathResult:
        fresh = joint_head(net, n_target, stable_seed(seed, "head"))
        return train_path(fresh, net.n_classes, (xs, ys), (xt, yt), parts, gammas, spec, stable_seed(seed, "path"))

    if method == "finetune_length":
        result = path(None, None)
        value = float(result.lengths[0].mean())
        log.info("finetune_length: %.4f over %d target samples", value, n)
        return {"distance": value, "samples": n, "path": result.trace, "iterations": [{"distance": value}],
                "coupling": None}

    parts = blocks(n, spec.block)
    if method == "uncoupled":
        gammas, outer = independent_coupling(parts), 1
    else:
        z_s, z_t = features(net.body, xs).cpu().numpy(), features(net.body, xt).cpu().numpy()  # (n, hidden) each
        gammas, outer = initial_coupling(block_costs(z_s, z_t, parts), spec.entropy), spec.outer
    iterations = []
    for it in range(outer):
        result = path(parts, gammas)
        value = weighted_length(gammas, result.lengths)
        iterations.append({"distance": value, **summary(gammas)})
        log.info("%s iteration %d/%d: length %.4f, coupling perplexity %.3f", method, it + 1, outer, value,
                 iterations[-1]["perplexity"])
        if it + 1 < outer:
            gammas = proximal_coupling(gammas, result.lengths, spec.proximal)
    return {"distance": iterations[-1]["distance"], "samples": n, "path": result.trace, "iterations": iterations,
            "coupling": summary(gammas)}
