"""FUSE (fusion search), random search with the same budget, and training of the winner.

The search functions take the training and validation splits only; the test
split reaches :func:`train_final` alone, after the search has ended.

FUSE (Le et al.), one stage:

1. candidates = the current best cell (none in the first stage) plus fresh
   cells sampled from the space, ``spec.candidates + 1`` in all; every
   candidate network is (re)initialised from the stage's seed, as the
   reference code does;
2. the mixture ``m(x) = sum_c softmax(alpha)_c f_c(x)`` of their logits, ``alpha = 0``;
3. ``spec.rounds`` times: ``spec.epochs`` epochs on the candidates' weights
   over the *training* split (alpha fixed), then ``spec.epochs`` epochs on
   alpha over the *validation* split (weights fixed; BatchNorm in training
   mode, as in DARTS, so its running statistics also see validation batches);
4. the best cell becomes ``argmax alpha`` (ties: the earliest, i.e. the incumbent).

The history also records each candidate's own validation accuracy, after
its BatchNorm statistics are re-estimated on the training split; FUSE does
not use it to choose, random search does.

References
----------
Le, Soltani, Ravier, Tarokh. "Task-Aware Neural Architecture Search",
arXiv:2010.13962 (ICASSP 2021). Their code trains alpha on the test set;
here it is the validation split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from taskdist.nas.network import build, param_count
from taskdist.nas.space import Genotype, SearchSpace
from taskdist.nets import train
from taskdist.progress import Progress
from taskdist.seeds import stable_seed
from taskdist.specs import FuseSpec

log = logging.getLogger(__name__)

Split = tuple[torch.Tensor, torch.Tensor]  # images (N, C, H, W), labels (N,)

HISTORY_COLUMNS = (
    "stage", "candidate", "genotype", "alpha", "val_accuracy", "chosen", "seconds", "candidates_trained",
    "epochs", "cpu_s", "best_val_accuracy",
)  # fmt: skip
"""Columns of a search's history; the last four are its anytime trace (:func:`anytime`)."""

TRACE_COLUMNS = ("candidates_trained", "epochs", "cpu_s", "val_accuracy", "best_val_accuracy")
"""The anytime trace of a search: after every trained candidate, the cost so far and the best validation
accuracy so far (:func:`anytime`)."""


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a search.

    Parameters
    ----------
    winner
        The cell the search settled on.
    history
        One row per trained candidate, columns :data:`HISTORY_COLUMNS`: ``stage``,
        ``candidate`` (0 = incumbent from stage 1 on), ``genotype`` (JSON),
        ``alpha`` (softmax weight at the end of the stage; NaN for random search),
        ``val_accuracy`` (the candidate alone), ``chosen``, ``seconds`` (wall time
        of the stage), then the anytime trace (:data:`TRACE_COLUMNS`, :func:`anytime`):
        ``candidates_trained``, ``epochs`` (weight-training epochs of the candidates)
        and ``cpu_s`` (CPU seconds of the process since the search began), all
        cumulative up to this candidate, and ``best_val_accuracy`` (the best
        ``val_accuracy`` so far).
    candidates_trained
        Number of candidate networks trained in all.
    seconds
        Wall time of the whole search.
    """

    winner: Genotype
    history: pd.DataFrame
    candidates_trained: int
    seconds: float


class Mixture(nn.Module):
    """``m(x) = sum_c softmax(alpha)_c f_c(x)`` over candidate networks, ``alpha`` initialised to 0."""

    def __init__(self, candidates: Sequence[nn.Module]):
        super().__init__()
        if len(candidates) == 0:
            raise ValueError("a mixture needs at least one candidate")
        self.candidates = nn.ModuleList(candidates)
        self.alpha = nn.Parameter(torch.zeros(len(candidates)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.alpha, dim=0)  # (C,)
        outputs = torch.stack([f(x) for f in self.candidates])  # (C, B, K)
        return torch.einsum("c,cbk->bk", weights, outputs)  # (B, K)


@contextmanager
def _frozen(params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Temporarily exclude ``params`` from autograd (no gradient work for what is not trained)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


@torch.no_grad()
def _recalibrate_bn(net: nn.Module, images: torch.Tensor, batch_size: int = 256) -> None:
    """Recompute BatchNorm running statistics as plain averages over ``images`` (train mode, no gradient).

    After a few search epochs the default exponential running statistics are
    still far from the data's, and eval-mode predictions are near chance;
    re-estimating them on the training split (as one-shot NAS does) makes the
    validation accuracy of a briefly trained candidate meaningful.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(net.parameters()).device
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = net.training
    net.train()
    for start in range(0, len(images), batch_size):
        net(images[start : start + batch_size].to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    net.train(was_training)


def _check_split(name: str, split: Split) -> Split:
    if not (isinstance(split, tuple) and len(split) == 2):
        raise TypeError(f"{name} must be a tuple (images, labels), got {type(split).__name__}")
    images, labels = split
    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels) or len(labels) == 0:
        raise ValueError(
            f"{name}: need images (N, C, H, W) and labels (N,) with N >= 1, "
            f"got shapes {tuple(images.shape)} and {tuple(labels.shape)}"
        )
    return images, labels


def _n_classes(n_classes: int | None, *labels: torch.Tensor) -> int:
    seen = max(int(y.max()) for y in labels) + 1
    if n_classes is None:
        return seen
    if n_classes < seen:
        raise ValueError(f"n_classes={n_classes} but labels go up to {seen - 1}")
    return n_classes


def anytime(history: pd.DataFrame, epochs_per_candidate: int, cpu_s: Sequence[float]) -> pd.DataFrame:
    """``history`` (one row per trained candidate, in the order they were trained) with its anytime trace.

    ``cpu_s``: per row, the CPU seconds of the process since the search began
    when that candidate's training ended. FUSE trains a stage's candidates
    together, so it spreads the stage's CPU time evenly over them
    (:func:`_spread`). ``candidates_trained`` counts the rows so far, ``epochs``
    their weight-training epochs, and ``best_val_accuracy`` is the running
    maximum of ``val_accuracy``: every trace is non-decreasing in its costs and
    in its best accuracy.
    """
    history = history.reset_index(drop=True)
    count = np.arange(1, len(history) + 1)
    cpu = np.maximum.accumulate(np.asarray(cpu_s, dtype=float)) if len(history) else np.zeros(0)
    return history.assign(candidates_trained=count, epochs=count * epochs_per_candidate, cpu_s=cpu,
                          best_val_accuracy=history["val_accuracy"].cummax())


def _spread(start: float, end: float, n: int) -> list[float]:
    """The ends of ``n`` candidates trained together from CPU time ``start`` to ``end``, spread evenly."""
    return [start + (end - start) * (c + 1) / n for c in range(n)]


def fuse(
    space: SearchSpace,
    train_split: Split,
    val_split: Split,
    *,
    spec: FuseSpec,
    seed: int,
    n_classes: int | None = None,
    device: torch.device | str = "cpu",
) -> SearchResult:
    """Search ``space`` with FUSE; see the module docstring for the algorithm.

    Parameters
    ----------
    space
        Where fresh candidates are sampled.
    train_split, val_split
        ``(images, labels)``: weights are trained on ``train_split``, alpha on
        ``val_split``. There is deliberately no test argument.
    spec
        Budget, cell size, network shape and optimiser settings.
    seed
        Drives cell sampling, initialisation and mini-batch order; the same
        seed gives the same search.
    n_classes
        Number of labels; default: largest label seen + 1.
    """
    x_tr, y_tr = _check_split("train_split", train_split)
    x_val, y_val = _check_split("val_split", val_split)
    n_classes = _n_classes(n_classes, y_tr, y_val)
    rng = np.random.default_rng(stable_seed(seed, "fuse-sample"))
    start, rows, trained, best = time.perf_counter(), [], 0, None
    cpu_start, cpu_ends = time.process_time(), []
    progress = Progress("fuse", spec.stages * spec.rounds, "rounds", logger=log)
    for stage in range(spec.stages):
        t0, cpu0 = time.perf_counter(), time.process_time() - cpu_start
        fresh = [space.sample(rng, spec.nodes) for _ in range(spec.candidates + (best is None))]
        genotypes = ([best] if best is not None else []) + fresh
        nets = [
            build(g, spec.net, x_tr.shape[1], n_classes, seed=stable_seed(seed, "fuse-init", stage, c))
            for c, g in enumerate(genotypes)
        ]
        mixture = Mixture(nets).to(device)
        weights = list(mixture.candidates.parameters())
        for r in range(spec.rounds):
            with _frozen([mixture.alpha]):
                train.fit(
                    mixture, x_tr, y_tr, params=weights, epochs=spec.epochs, batch_size=spec.batch_size,
                    lr=spec.lr, weight_decay=spec.weight_decay, seed=stable_seed(seed, "fuse-w", stage, r),
                    name=f"fuse stage {stage} round {r} weights",
                )
            with _frozen(weights):
                train.fit(
                    mixture, x_val, y_val, params=[mixture.alpha], epochs=spec.epochs, batch_size=spec.batch_size,
                    lr=spec.alpha_lr, seed=stable_seed(seed, "fuse-a", stage, r),
                    name=f"fuse stage {stage} round {r} alpha",
                )
            progress.advance()
        alpha = torch.softmax(mixture.alpha.detach(), 0).cpu().numpy()
        winner = int(np.argmax(alpha))  # first maximum: the incumbent wins ties
        best = genotypes[winner]
        trained += len(genotypes)
        seconds = time.perf_counter() - t0
        for c, (g, net) in enumerate(zip(genotypes, nets, strict=True)):
            _recalibrate_bn(net, x_tr)
            acc = train.evaluate(net, x_val, y_val).accuracy
            rows.append((stage, c, g.to_json(), float(alpha[c]), acc, c == winner, seconds))
        cpu_ends += _spread(cpu0, time.process_time() - cpu_start, len(genotypes))
        log.info("fuse stage %d/%d: alpha %s, kept candidate %d (%s) [%.1fs]",
                 stage + 1, spec.stages, np.round(alpha, 3).tolist(), winner, best.to_json(), seconds)
    progress.end()
    history = anytime(pd.DataFrame(rows, columns=list(HISTORY_COLUMNS[:7])), spec.epochs_per_candidate, cpu_ends)
    return SearchResult(best, history[list(HISTORY_COLUMNS)], trained, time.perf_counter() - start)


def random_search(
    space: SearchSpace,
    train_split: Split,
    val_split: Split,
    *,
    spec: FuseSpec,
    seed: int,
    n_candidates: int | None = None,
    epochs: int | None = None,
    n_classes: int | None = None,
    device: torch.device | str = "cpu",
) -> SearchResult:
    """Sample ``n_candidates`` cells, train each alone, keep the best by validation accuracy.

    The default budget equals FUSE's under ``spec``: ``spec.candidates_trained``
    candidates, ``spec.epochs_per_candidate`` epochs each. Ties go to the
    earliest candidate. As :func:`fuse`, it never sees a test split.
    """
    x_tr, y_tr = _check_split("train_split", train_split)
    x_val, y_val = _check_split("val_split", val_split)
    n_classes = _n_classes(n_classes, y_tr, y_val)
    n_candidates = spec.candidates_trained if n_candidates is None else n_candidates
    epochs = spec.epochs_per_candidate if epochs is None else epochs
    if n_candidates < 1 or epochs < 1:
        raise ValueError(f"need n_candidates >= 1 and epochs >= 1, got {n_candidates} and {epochs}")
    rng = np.random.default_rng(stable_seed(seed, "random-sample"))
    start, rows, cpu_start, cpu_ends = time.perf_counter(), [], time.process_time(), []
    progress = Progress("random search", n_candidates, "candidates", logger=log)
    for c in range(n_candidates):
        t0 = time.perf_counter()
        genotype = space.sample(rng, spec.nodes)
        net = build(genotype, spec.net, x_tr.shape[1], n_classes, seed=stable_seed(seed, "random-init", c)).to(device)
        train.fit(net, x_tr, y_tr, epochs=epochs, batch_size=spec.batch_size, lr=spec.lr,
                  weight_decay=spec.weight_decay, seed=stable_seed(seed, "random-fit", c), name=f"random {c}")
        _recalibrate_bn(net, x_tr)
        acc = train.evaluate(net, x_val, y_val).accuracy
        rows.append((0, c, genotype.to_json(), float("nan"), acc, False, time.perf_counter() - t0))
        cpu_ends.append(time.process_time() - cpu_start)
        progress.advance()
    progress.end()
    history = anytime(pd.DataFrame(rows, columns=list(HISTORY_COLUMNS[:7])), epochs, cpu_ends)[list(HISTORY_COLUMNS)]
    winner = int(history["val_accuracy"].to_numpy().argmax())
    history.loc[winner, "chosen"] = True
    log.info("random search: %d candidates, best %d with val acc %.4f", n_candidates, winner,
             history.loc[winner, "val_accuracy"])
    return SearchResult(Genotype.from_json(history.loc[winner, "genotype"]), history, n_candidates,
                        time.perf_counter() - start)


def train_final(
    genotype: Genotype,
    train_split: Split,
    val_split: Split,
    test_split: Split,
    *,
    spec: FuseSpec,
    seed: int,
    n_classes: int | None = None,
    device: torch.device | str = "cpu",
) -> dict:
    """Train ``genotype``'s network from scratch on the training split, then evaluate once on test.

    This is the only function of :mod:`taskdist.nas` that reads a test split.
    ``spec.final_epochs`` epochs of Adam; the validation accuracy is logged per
    epoch but not used to choose anything.

    Returns
    -------
    dict
        ``genotype`` (JSON), ``params``, ``{train,val,test}_{accuracy,loss}`` and
        ``history`` (one dict per epoch).
    """
    x_tr, y_tr = _check_split("train_split", train_split)
    x_val, y_val = _check_split("val_split", val_split)
    x_te, y_te = _check_split("test_split", test_split)  # shapes only; the data is read after training
    n_classes = _n_classes(n_classes, y_tr, y_val)
    net = build(genotype, spec.net, x_tr.shape[1], n_classes, seed=stable_seed(seed, "final-init")).to(device)
    history = train.fit(net, x_tr, y_tr, epochs=spec.final_epochs, batch_size=spec.batch_size, lr=spec.lr,
                        weight_decay=spec.weight_decay, seed=stable_seed(seed, "final-fit"), val=(x_val, y_val),
                        name="final")
    out = {"genotype": genotype.to_json(), "params": param_count(genotype, spec.net, x_tr.shape[1], n_classes)}
    for name, (x, y) in (("train", (x_tr, y_tr)), ("val", (x_val, y_val)), ("test", (x_te, y_te))):
        ev = train.evaluate(net, x, y)
        out[f"{name}_accuracy"], out[f"{name}_loss"] = ev.accuracy, ev.loss
    log.info("final %s: %d params, val acc %.4f, test acc %.4f", genotype.to_json(), out["params"],
             out["val_accuracy"], out["test_accuracy"])
    return {**out, "history": history}
