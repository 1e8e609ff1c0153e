"""Training loops: a task network from scratch, and a fresh head on a frozen body."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from taskdist.optim import Adam

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float


@torch.no_grad()
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
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(images), batch_size):
            idx = order[start : start + batch_size]
            x, y = images[idx].to(device), labels[idx].to(device)
            logits = model(x)  # (B, C)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        record = {"epoch": epoch, "loss": loss_sum / len(images), "train_accuracy": correct / len(images)}
        if val is not None:
            record["val_accuracy"] = evaluate(model, *val).accuracy
        history.append(record)
        log.info(
            "%s epoch %d/%d  loss %.4f  train acc %.4f%s",
            name, epoch, epochs, record["loss"], record["train_accuracy"],
            f"  val acc {record['val_accuracy']:.4f}" if val is not None else "",
        )
    model.eval()
    return history


def fit_head(model, images, labels, *, epochs: int, batch_size: int, lr: float, seed: int, name: str = "head"):
    """Train only ``model.head`` with the body frozen.

    The body's features are computed once (eval mode), so each epoch costs a
    linear layer only.
    """
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        feats = torch.cat([model.body(images[s : s + 512].to(device)) for s in range(0, len(images), 512)])
    history = fit(
        model.head, feats, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, name=name
    )
    return history
