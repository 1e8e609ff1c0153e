"""Training loops: a task network from scratch, to convergence with early stopping, and a fresh head."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from taskdist.nets.optim import Adam
from taskdist.progress import Progress

VERSION = 3
"""Version of task-network training; raised whenever what it computes changes.

2: task networks and the probe train until their val loss stops improving (:func:`fit_early_stopping`), not a
fixed number of epochs;
3: :func:`fit_early_stopping` trains in channels-last memory format (:data:`LAYOUT`): the same arithmetic summed
in another order, for about half the CPU of the small CNN."""

LAYOUT = torch.channels_last
"""Memory format :func:`fit_early_stopping` trains in (its model's 4-d weights are converted, in place). On CPU,
oneDNN's convolutions and max pools run 1.5-3x faster in channels-last (N, H, W, C) than in the default layout:
a small-CNN training step about 2x, MobileNet's about 2x, ResNet-18's within a few percent either way (measured
side by side; ``benchmarks/pair_costs.py --method transfer`` or ``scratch`` times a whole job). The results
differ from the default layout's by floating-point reordering (about 1e-7 relative per step), which training
amplifies as any change of the last bits does (README: the rerun on another machine)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> Evaluation:
    """Mean cross-entropy and accuracy of ``model`` on ``(images, labels)``, in eval mode."""
    if len(images) == 0:
        raise ValueError("cannot evaluate on an empty set")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        logits = model(x)  # (B, C)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train(was_training)
    return Evaluation(loss=loss_sum / len(images), accuracy=correct / len(images))


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` normalises with batch statistics in training (any BatchNorm layer)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def batches(order: torch.Tensor, batch_size: int, batchnorm: bool) -> list[torch.Tensor]:
    """One epoch's mini-batches of the shuffled indices ``order``, ``batch_size`` at a time.

    For a model with BatchNorm (``batchnorm``: :func:`has_batchnorm`), a last batch of a single example
    joins the batch before it: batch statistics of one example are undefined where a layer's maps are
    1 x 1 (a ResNet's last stage on small images), and training would stop with an error. Models without
    BatchNorm (the small CNN) get the plain split.
    """
    parts = list(order.split(batch_size))
    if batchnorm and len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def fit(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    params: list[nn.Parameter] | None = None,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    seed: int,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    name: str = "model",
) -> list[dict]:
    """Train ``params`` (default: all of ``model``'s) with Adam on cross-entropy.

    Mini-batches are shuffled with a generator seeded by ``seed``. Each epoch
    is logged (loss, train accuracy, and validation accuracy when ``val`` is
    given) and returned as a list of dicts, one per epoch.
    """
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need equally many images and labels, at least one; got {len(images)} and {len(labels)}")
    device = next(model.parameters()).device
    params = list(model.parameters()) if params is None else params
    opt = Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    history = []
    progress = Progress(f"{name} training", epochs * len(images), "samples", logger=log, quiet=True)
    batchnorm = has_batchnorm(model)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        loss_sum, correct = 0.0, 0
        for idx in batches(order, batch_size, batchnorm):
            x, y = images[idx].to(device), labels[idx].to(device)
            logits = model(x)  # (B, C)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            progress.advance(len(idx))
        record = {"epoch": epoch, "loss": loss_sum / len(images), "train_accuracy": correct / len(images)}
        if val is not None:
            record["val_accuracy"] = evaluate(model, *val).accuracy
        history.append(record)
        log.info(
            "%s epoch %d/%d  loss %.4f  train acc %.4f%s",
            name, epoch, epochs, record["loss"], record["train_accuracy"],
            f"  val acc {record['val_accuracy']:.4f}" if val is not None else "",
        )
    progress.end()
    model.eval()
    return history


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights and buffers to restore later (tensors cloned in their memory format; cheaper
    than ``copy.deepcopy`` of the state dict, which goes through pickling machinery for every tensor)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class Stopped:
    """Where :func:`fit_early_stopping` stopped and why.

    ``best_epoch`` is the epoch whose weights were kept (lowest held-out
    loss; 0 = the initial weights; the last epoch on a fixed schedule),
    ``epochs`` the epochs trained, ``reason`` ``"patience"`` (no improvement
    for ``patience`` epochs), ``"max_epochs"`` (still improving at the
    maximum) or ``"fixed"`` (no early stopping asked for); ``history`` one
    dict per epoch.
    """

    best_epoch: int
    epochs: int
    reason: str
    best_loss: float
    history: list[dict] = field(repr=False)


def fit_early_stopping(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    held_out: tuple[torch.Tensor, torch.Tensor],
    *,
    max_epochs: int,
    patience: int | None,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    name: str = "model",
) -> Stopped:
    """Train all of ``model`` with Adam until the held-out loss stops improving; keep the best weights.

    The model is trained in :data:`LAYOUT` (converted in place; it stays so: the same network, faster on CPU).

    After every epoch the cross-entropy on ``held_out`` is measured; training
    stops after ``patience`` epochs without a new minimum (or after
    ``max_epochs``) and the weights of the best epoch are restored. With
    ``patience`` None the schedule is fixed, as in the papers: ``max_epochs``
    epochs and the last weights kept (the held-out loss is still recorded).
    Batches are shuffled with a generator seeded by ``seed``, so two models
    trained with the same seed on the same examples see the same batch order.
    """
    if (patience is not None and patience < 1) or max_epochs < 1:
        raise ValueError(f"patience (or None) and max_epochs must be >= 1, got {patience} and {max_epochs}")
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need equally many images and labels, at least one; got {len(images)} and {len(labels)}")
    device = next(model.parameters()).device
    model.to(memory_format=LAYOUT)
    opt = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    best = evaluate(model, *held_out).loss
    best_epoch, best_state, history = 0, _copy_state(model), []
    reason = "fixed" if patience is None else "max_epochs"
    progress = Progress(f"{name} training (at most {max_epochs} epochs of {len(images)})", None, "samples",
                        logger=log, quiet=True)
    batchnorm = has_batchnorm(model)
    model.train()  # evaluate() returns it to training mode after each epoch
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(len(images), generator=gen)
        loss_sum, correct = 0.0, 0
        for idx in batches(order, batch_size, batchnorm):
            x, y = images[idx].to(device), labels[idx].to(device)
            logits = model(x)  # (B, C)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            progress.advance(len(idx))
        held = evaluate(model, *held_out)
        history.append({"epoch": epoch, "loss": loss_sum / len(images), "train_accuracy": correct / len(images),
                        "held_out_loss": held.loss, "held_out_accuracy": held.accuracy})
        if patience is None:
            best, best_epoch = held.loss, epoch
        elif held.loss < best:
            best, best_epoch, best_state = held.loss, epoch, _copy_state(model)
        elif epoch - best_epoch >= patience:
            reason = "patience"
            break
    progress.end()
    if patience is not None:
        model.load_state_dict(best_state)
    model.eval()
    stopped = Stopped(best_epoch, len(history), reason, best, history)
    log.info("%s: stopped after %d epochs (%s), kept epoch %d, held-out loss %.4f",
             name, stopped.epochs, reason, best_epoch, best)
    return stopped
