"""The task-network checkpoint ``results/models/{task}.pt``: what it holds, how it is written and read.

A checkpoint is a dict: the network's ``state_dict`` (on the CPU), its
``arch`` (:class:`~taskdist.specs.ArchSpec` as builtins), ``in_channels``,
``n_classes``, the ``task`` it was trained on, its ``metrics`` and training
``history``. :func:`read` checks the keys and turns a missing or foreign file
into an :class:`~taskdist.io.ArtifactError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from taskdist import io, models
from taskdist.specs import ArchSpec, from_params, to_params

KEYS = ("state_dict", "arch", "in_channels", "n_classes", "task", "metrics")


def make(model: models.TaskNet, task: dict, metrics: dict, history: list[dict]) -> dict:
    """The checkpoint of ``model``: weights, architecture, the task and its metrics."""
    return {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "arch": to_params(model.spec),
        "in_channels": model.in_channels,
        "n_classes": model.n_classes,
        "task": task,
        "metrics": metrics,
        "history": history,
    }


def write(checkpoint: dict, path: str | Path) -> None:
    io.save_checkpoint(checkpoint, path)


def read(path: str | Path) -> dict:
    return io.load_checkpoint(path, KEYS)


def read_all(paths: Iterable[str | Path]) -> dict[str, dict]:
    """The checkpoints at ``paths`` by the id of the task each network was trained on; a task twice is an error."""
    return io.by_name(((ckpt["task"]["id"], path, ckpt) for path in paths for ckpt in [read(path)]), "checkpoint")


def load_network(checkpoint: dict, device: torch.device) -> models.TaskNet:
    """The network of ``checkpoint`` on ``device``, in eval mode."""
    net = models.TaskNet(from_params(ArchSpec, checkpoint["arch"]), checkpoint["in_channels"], checkpoint["n_classes"])
    net.load_state_dict(checkpoint["state_dict"])
    return net.to(device).eval()
