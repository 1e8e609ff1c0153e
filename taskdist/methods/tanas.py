r"""TA-NAS complexity distance: how much of a feature transformation must survive pruning.

For an ordered pair of tasks ``(a, b)`` and the data of ``b``:

1. ``z_a = N_a.body(x)`` and ``z_b = N_b.body(x)`` for ``x`` from ``b``, each
   standardised per dimension (statistics of the fitting part);
2. a *reference classifier* ``C``: linear, trained on ``(z_b, y_b)``: what
   ``b``'s own features achieve, accuracy ``acc_ref`` on the held-out part;
3. a *transformation* ``T``: MLP ``D_a -> hidden... -> D_b`` (ReLU between
   layers), trained with mean squared error to map ``z_a`` to ``z_b``;
4. global magnitude pruning of ``T``'s weight matrices (biases are not
   counted) in steps of ``prune_step`` of the total, fine-tuning the surviving
   weights with the same MSE after each step, as long as
   ``acc(C(T(z_a))) >= acc_ref - tolerance`` on the held-out part.

.. math::

    d(a \to b) = \text{fraction of } T\text{'s weights left at the last step that held}
    \in \{\text{prune\_step}, \dots, 1\},

and ``d = 1`` when even the unpruned ``T`` falls short. A task and itself
(``z_a = z_b``): ``T`` only needs the identity on the few directions ``C``
uses, which survives heavy pruning, so ``d`` is small; it is the floor of the
method, not exactly 0 (about 0.1 with the default sizes on 64-d task features;
never below ``prune_step``). A matrix builder may set the diagonal to 0 by
definition, as for FTD. Features that cannot be mapped onto ``b``'s (noise,
or an unrelated network) give 1. With a few hundred examples the held-out
accuracy moves in steps of about 1 %, so keep ``tolerance`` well above that;
at the scale of the default experiment many cross-task pairs saturate at 1
(the unpruned map already loses more than ``tolerance``); the default 0.1
grades more of them than 0.05 does.

Differences from the reference code (``prune_transform.py`` of Le et al.):
the accuracy threshold is anchored at ``b``'s own features through a fixed
classifier rather than at the unpruned ``T`` with a refitted classifier
(otherwise a useless ``T`` could be pruned away at no cost and look close);
accuracies are measured on a seeded held-out part of the data, not on the
data the networks were fitted on; widths are scaled down (paper: 1024 -> 2048
-> 512 -> 1024, i.e. ``hidden = (2 D, D / 2)``).

References
----------
Le, Soltani, Ravier, Tarokh. "Task-Aware Neural Architecture Search",
arXiv:2010.13962 (ICASSP 2021).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from taskdist.nets.optim import Adam
from taskdist.progress import Progress
from taskdist.seeds import stable_seed

VERSION = 2
"""Version of the TA-NAS complexity distance; raised whenever its results change.

2: pair records and matrices carry their format and names (:mod:`taskdist.artifacts.records`,
:mod:`taskdist.artifacts.matrices`)."""

log = logging.getLogger(__name__)


def _mlp(d_in: int, hidden: Sequence[int], d_out: int) -> nn.Sequential:
    widths = [d_in, *hidden, d_out]
    layers: list[nn.Module] = []
    for k in range(len(widths) - 1):
        if k > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(widths[k], widths[k + 1]))
    return nn.Sequential(*layers)


def _fit(model, x, y, loss_fn, *, epochs, batch_size, lr, gen, progress, masks=None) -> None:
    """Adam on ``loss_fn(model(x), y)``; pruned weights (``masks``) are kept at zero after every step; each epoch
    advances ``progress``."""
    opt = Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), batch_size):
            idx = order[s : s + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if masks is not None:
                with torch.no_grad():
                    for w, m in masks:
                        w.mul_(m)
        progress.advance()
    model.eval()


@torch.no_grad()
def _accuracy(classifier: nn.Module, z: torch.Tensor, y: torch.Tensor, transform: nn.Module | None = None) -> float:
    """Accuracy of ``classifier(z)``, or of ``classifier(transform(z))``."""
    if transform is not None:
        z = transform(z)
    return (classifier(z).argmax(1) == y).double().mean().item()


def _standardise(z: torch.Tensor, fit_idx: torch.Tensor) -> torch.Tensor:
    mean, std = z[fit_idx].mean(0), z[fit_idx].std(0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant (e.g. dead ReLU) dimensions
    return (z - mean) / std


def complexity_distance(
    features_a: torch.Tensor | np.ndarray,
    features_b: torch.Tensor | np.ndarray,
    labels_b: torch.Tensor | np.ndarray,
    *,
    seed: int,
    hidden: Sequence[int] = (128, 32),
    prune_step: float = 0.05,
    tolerance: float = 0.1,
    epochs: int = 60,
    finetune_epochs: int = 3,
    lr: float = 3e-3,
    batch_size: int = 64,
    holdout: float = 0.3,
) -> float:
    """TA-NAS complexity distance ``d(a -> b)``; see the module docstring for what is measured.

    Parameters
    ----------
    features_a, features_b
        ``(N, D_a)`` and ``(N, D_b)``: features of ``N_a`` and ``N_b`` on the
        same ``N`` examples of task ``b``, row for row.
    labels_b
        ``(N,)`` integer labels of task ``b``.
    seed
        Drives the held-out split, initialisation and mini-batch order.
    hidden
        Hidden widths of the transformation MLP.
    prune_step
        Fraction of the transformation's weights removed per step (0 < step < 1).
    tolerance
        Accuracy the mapped features may lose against ``b``'s own (0 <= tolerance < 1).
    epochs, finetune_epochs, lr, batch_size
        Adam settings: ``epochs`` to fit the classifier and the transformation,
        ``finetune_epochs`` after each pruning step.
    holdout
        Fraction of the examples held out to measure accuracies (0 < holdout < 1).

    Returns
    -------
    float
        In ``[prune_step, 1]``: the fraction of the transformation's weights that must remain.
        Asymmetric: ``d(a -> b)`` uses ``b``'s data, labels and classifier.
    """
    za = torch.as_tensor(np.asarray(features_a), dtype=torch.float32)
    zb = torch.as_tensor(np.asarray(features_b), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels_b))
    if za.ndim != 2 or zb.ndim != 2 or y.ndim != 1 or not len(za) == len(zb) == len(y):
        raise ValueError(
            f"need features_a (N, Da), features_b (N, Db), labels_b (N,); got {tuple(za.shape)}, "
            f"{tuple(zb.shape)}, {tuple(y.shape)}"
        )
    if y.dtype.is_floating_point or y.dtype == torch.bool or (len(y) and int(y.min()) < 0):
        raise ValueError(f"labels_b must be non-negative integers, got dtype {y.dtype}")
    if not (torch.isfinite(za).all() and torch.isfinite(zb).all()):
        raise ValueError("features must be finite")
    if not 0 < prune_step < 1:
        raise ValueError(f"prune_step must lie in (0, 1), got {prune_step!r}")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance!r}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must lie in (0, 1), got {holdout!r}")
    if any(int(h) < 1 for h in hidden) or epochs < 1 or finetune_epochs < 0 or batch_size < 1:
        raise ValueError(f"need hidden widths, epochs, batch_size >= 1 and finetune_epochs >= 0, got "
                         f"hidden={tuple(hidden)}, epochs={epochs}, finetune_epochs={finetune_epochs}, "
                         f"batch_size={batch_size}")
    y = y.long()
    n_eval = round(holdout * len(y))
    if n_eval < 1 or len(y) - n_eval < 2 or len(torch.unique(y)) < 2:
        raise ValueError(f"need at least 2 classes and enough examples for a held-out part, got N={len(y)}")

    gen = torch.Generator().manual_seed(stable_seed(seed, "complexity"))
    perm = torch.randperm(len(y), generator=gen)
    ev, fit = perm[:n_eval], perm[n_eval:]
    za, zb = _standardise(za, fit), _standardise(zb, fit)
    n_classes = int(y.max()) + 1

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stable_seed(seed, "complexity-init"))
        classifier = nn.Linear(zb.shape[1], n_classes)
        transform = _mlp(za.shape[1], [int(h) for h in hidden], zb.shape[1])
    steps = int(np.ceil(1 / prune_step - 1e-9))
    progress = Progress("tanas", 2 * epochs + (steps - 1) * finetune_epochs, "epochs (at most)", logger=log)
    _fit(classifier, zb[fit], y[fit], F.cross_entropy, epochs=epochs, batch_size=batch_size, lr=lr, gen=gen,
         progress=progress)
    classifier.requires_grad_(False)
    threshold = _accuracy(classifier, zb[ev], y[ev]) - tolerance

    _fit(transform, za[fit], zb[fit], F.mse_loss, epochs=epochs, batch_size=batch_size, lr=lr, gen=gen,
         progress=progress)
    acc = _accuracy(classifier, za[ev], y[ev], transform)
    log.debug("complexity: reference accuracy %.4f (tolerance %.4f), unpruned map %.4f",
              threshold + tolerance, tolerance, acc)
    if acc < threshold:
        progress.end()
        return 1.0

    weights = [m.weight for m in transform if isinstance(m, nn.Linear)]
    total = sum(w.numel() for w in weights)
    kept = 1.0
    for step in range(1, steps):
        fraction = round(1.0 - step * prune_step, 12)
        masks = _magnitude_masks(weights, round(fraction * total))
        with torch.no_grad():
            for w, m in masks:
                w.mul_(m)
        if finetune_epochs:
            _fit(transform, za[fit], zb[fit], F.mse_loss, epochs=finetune_epochs, batch_size=batch_size, lr=lr,
                 gen=gen, progress=progress, masks=masks)
        acc = _accuracy(classifier, za[ev], y[ev], transform)
        log.debug("complexity: %.0f%% of weights left, accuracy %.4f", 100 * fraction, acc)
        if acc < threshold:
            break
        kept = fraction
    progress.end()
    return float(kept)


def _magnitude_masks(weights: list[torch.Tensor], keep: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """0/1 masks keeping the ``keep`` largest ``|w|`` over all ``weights`` (ties: earliest entry)."""
    flat = torch.cat([w.detach().abs().flatten() for w in weights])
    order = torch.argsort(flat, descending=True, stable=True)
    mask = torch.zeros_like(flat)
    mask[order[:keep]] = 1.0
    return [(w, m.view_as(w)) for w, m in zip(weights, torch.split(mask, [w.numel() for w in weights]), strict=True)]
