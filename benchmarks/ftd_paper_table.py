"""The FTD paper's MNIST table (Le et al., arXiv 2103.12827) against taskdist's FTD, compared by rank.

Four tasks on the embedded MNIST digits (``mnist5k``), drawn from the same train / test
pools as ``benchmarks/ftd_noise.py`` (no test image is a train image of any task):

- ``T0``: digit 0 vs rest, balanced (360 zeros, 40 of each other digit; 720 train images);
- ``T1``: digit 1 vs rest, balanced, likewise;
- ``T2``: 5-way {0, 1, 2, 3, other}: 180 of each of 0-3, 30 of each of 4-9 (900 train);
- ``T3``: 10-way, 180 per digit (1800 train).

One task network per task, trained like the default workflow (``DEFAULT_NETWORK``, 15 Adam
epochs, batch 64, lr 0.002). ``d(Ti -> Tj) = FTD(F_{i,i}, F_{i,j})``: ``N_i``'s body,
a converged head (:func:`taskdist.nets.linear.fit_linear_head`, l2 0.1) fitted on ``Tj``'s train
labels, the Fisher of the body over 500 train examples of ``Tj``, with three estimators:

- ``per-sample``: :func:`taskdist.methods.fisher.fisher_diagonal`, empirical (the mean of the
  per-sample squared gradients, as taskdist defines the FIM);
- ``batch-mean``: :func:`batch_mean_squared_gradient_fisher`, the reference code's
  estimator: the square of the gradient of the *batch-mean* loss, averaged over batches of
  50 in a shuffled order (the reference used an unshuffled MNIST test loader, whose batches
  mix the digits; ``mnist5k`` is sorted by digit, so the order is shuffled);
- ``exact``: :func:`taskdist.methods.fisher.fisher_diagonal`, exact (the setting that
  ``benchmarks/ftd_noise.py`` recommends).

A last matrix pairs the Fishers as the reference script ``fisher_distance_mnist.py`` does:
not one network on two tasks' data, but ``N_source`` and ``N_target`` (each with its head
refitted here), both on the target's data, with the batch-mean estimator.

The reference printed ``d**2``, not ``d``; ranks are unaffected, so the matrices are
compared by the Spearman correlation of their 12 off-diagonal entries with the paper's
(DenseNet-121 row of the paper; it reports the same ordering for VGG-16 and ResNet-18).

Usage::

    python benchmarks/ftd_paper_table.py          # about 30 s on one core
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ftd_noise import Task, make_task, pools

from taskdist.artifacts import vectors
from taskdist.artifacts.dataset import Dataset
from taskdist.config import defaults
from taskdist.data import datasets, tasks
from taskdist.methods import fisher
from taskdist.methods.distances import fisher_task_distance
from taskdist.nets import models, train
from taskdist.nets.linear import refit_head
from taskdist.seeds import stable_seed
from taskdist.specs import ArchSpec, ImageSpec, from_params

DEFAULT_NETWORK = from_params(ArchSpec, defaults("network"))  # the default workflow's task network

NAMES = ("T0", "T1", "T2", "T3")
# Le et al., MNIST, DenseNet-121, row = source, column = target (as printed: d squared)
PAPER = np.array(
    [
        [0.0, 0.212, 0.499, 0.555],
        [0.236, 0.0, 0.369, 0.475],
        [0.360, 0.430, 0.0, 0.218],
        [0.398, 0.363, 0.126, 0.0],
    ]
)
L2, MAX_ITER, TOL, SAMPLES = 0.1, 1000, 1e-6, 500


def build_tasks(ds: Dataset) -> dict[str, Task]:
    pool = pools(ds.labels, seed=0)
    out = {}
    for name, digit in (("T0", 0), ("T1", 1)):
        label_of = {d: 0 if d == digit else 1 for d in range(10)}
        n_train = {d: 360 if d == digit else 40 for d in range(10)}
        n_test = {d: 90 if d == digit else 10 for d in range(10)}
        out[name] = make_task(name, ds, pool, label_of, n_train, n_test, seed=10 + digit)
    label_of = {d: min(d, 4) for d in range(10)}
    n_train = {d: 180 if d < 4 else 30 for d in range(10)}
    n_test = {d: 60 if d < 4 else 10 for d in range(10)}
    out["T2"] = make_task("T2", ds, pool, label_of, n_train, n_test, seed=12)
    out["T3"] = make_task("T3", ds, pool, {d: d for d in range(10)}, 180, 60, seed=13)
    return out


def batch_mean_squared_gradient_fisher(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 50, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The reference code's "Fisher": the squared gradient of the batch-mean loss, averaged over batches.

    ``(1/B) sum_b (grad_w (1/|b|) sum_{i in b} CE_i)^2`` over the batches ``b`` of a seeded
    shuffle, for every parameter with ``requires_grad``. Not the FIM: the square of a mean
    is not the mean of the squares (the cross terms of different samples remain, and the
    scale shrinks with the batch size).
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    sums = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    model.eval()
    n_batches = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        loss = F.cross_entropy(model(images[idx]), labels[idx])  # batch mean
        grads = torch.autograd.grad(loss, list(params.values()))
        for (name, _), grad in zip(params.items(), grads, strict=True):
            sums[name] += grad.double().square()
        n_batches += 1
    return {n: (s / n_batches).float() for n, s in sums.items()}


def distance_matrices(nets: dict[str, models.TaskNet], task_set: dict[str, Task]) -> dict[str, np.ndarray]:
    fim: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # (net, data) -> estimator -> F_{net,data}
    for source in NAMES:
        for target in NAMES:
            task = task_set[target]
            seed = stable_seed(0, "fisher", source, target)
            net = nets[source].with_new_head(task.n_classes, seed=stable_seed(seed, "head"))
            info = refit_head(net, task.x_train, task.y_train, l2=L2, max_iter=MAX_ITER, tol=TOL)
            if not info["converged"]:
                print(f"warning: head of N_{source} on {target} did not converge: {info}")
            net.head.requires_grad_(False)
            keep = tasks.subsample(len(task.y_train), SAMPLES, stable_seed(seed, "samples"))
            x, y = task.x_train[keep], task.y_train[keep]
            fim[source, target] = {
                "per-sample": vectors.flat(
                    fisher.fisher_diagonal(net, x, y, estimator="empirical", seed=stable_seed(seed, "fisher"))
                ),
                "batch-mean": vectors.flat(batch_mean_squared_gradient_fisher(net, x, y, seed=seed)),
                "exact": vectors.flat(fisher.fisher_diagonal(net, x, y, estimator="exact")),
            }
    out = {variant: np.zeros((4, 4)) for variant in ("per-sample", "batch-mean", "exact", "two networks")}
    for i, source in enumerate(NAMES):
        for j, target in enumerate(NAMES):
            for variant in ("per-sample", "batch-mean", "exact"):
                out[variant][i, j] = fisher_task_distance(fim[source, source][variant], fim[source, target][variant])
            # the reference script's pairing: N_source and N_target, both on the target's data
            out["two networks"][i, j] = fisher_task_distance(fim[source, target]["batch-mean"],
                                                             fim[target, target]["batch-mean"])
    return out


def off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(len(matrix), dtype=bool)]


def show(title: str, matrix: np.ndarray) -> None:
    print(f"\n{title}")
    print("      " + "".join(f"{n:>8}" for n in NAMES))
    for name, row in zip(NAMES, matrix, strict=True):
        print(f"{name:>6}" + "".join(f"{v:>8.3f}" for v in row))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of each task network")
    args = parser.parse_args(argv)
    if min(args.threads, args.epochs) < 1:
        parser.error("--threads and --epochs must be >= 1")
    torch.set_num_threads(args.threads)
    wall, load_start = time.perf_counter(), os.getloadavg()

    ds = datasets.load("mnist5k", ImageSpec(28, 1))
    task_set = build_tasks(ds)
    nets = {}
    for k, name in enumerate(NAMES):
        task = task_set[name]
        net = models.build(DEFAULT_NETWORK, 1, task.n_classes, seed=k)
        train.fit(net, task.x_train, task.y_train, epochs=args.epochs, batch_size=64, lr=0.002, seed=k)
        nets[name] = net.eval()
        acc = train.evaluate(net, task.x_test, task.y_test).accuracy
        print(f"N_{name}: {task.n_classes} classes, {len(task.y_train)} train / {len(task.y_test)} test, "
              f"test accuracy {acc:.4f}")

    ours = distance_matrices(nets, task_set)
    show("paper (Le et al., MNIST, DenseNet-121; printed values are d^2)", PAPER)
    show("taskdist: per-sample empirical Fisher, converged head (d)", ours["per-sample"])
    show("taskdist with the reference estimator: squared batch-mean gradient, batch 50 (d)", ours["batch-mean"])
    show("the same, squared (d^2, the scale the reference printed)", ours["batch-mean"] ** 2)
    show("taskdist: exact Fisher, converged head (d)", ours["exact"])
    show("the reference script's pairing, FTD(F of N_source on target data, F of N_target on target data), "
         "batch-mean estimator (d)", ours["two networks"])

    print("\nSpearman rank correlation of the 12 off-diagonal entries with the paper's")
    paper = off_diagonal(PAPER)
    for variant, matrix in ours.items():
        rho, p = spearmanr(off_diagonal(matrix), paper)
        print(f"  {variant:<12} rho = {rho:+.3f}  (p = {p:.3f})")
    rho, p = spearmanr(off_diagonal(ours["per-sample"]), off_diagonal(ours["batch-mean"]))
    print(f"  per-sample vs batch-mean: rho = {rho:+.3f}  (p = {p:.3f})")
    for variant, matrix in ours.items():
        nearest = {s: NAMES[int(np.argmin(np.where(np.eye(4, dtype=bool)[i], np.inf, matrix[i])))]
                   for i, s in enumerate(NAMES)}
        print(f"  nearest target per source, {variant}: {nearest}")
    paper_nearest = {s: NAMES[int(np.argmin(np.where(np.eye(4, dtype=bool)[i], np.inf, PAPER[i])))]
                     for i, s in enumerate(NAMES)}
    print(f"  nearest target per source, paper: {paper_nearest}")
    print(f"\nwall time {time.perf_counter() - wall:.0f} s; load average at start "
          f"{' '.join(f'{x:.2f}' for x in load_start)}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
