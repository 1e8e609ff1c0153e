"""The task-network checkpoint ``results/models/{task}.pt``: what it holds, how it is written and read.

A checkpoint is a dict: the network's ``state_dict`` (on the CPU), its
``arch`` (:class:`~taskdist.specs.ArchSpec` or :class:`~taskdist.specs.BackboneSpec`
as builtins), ``in_channels``, ``n_classes``, the ``task`` it was trained on, its
``metrics`` and training ``history``. A torchvision backbone's checkpoint also
holds ``network: "torchvision"``, which tells the two specs apart; a checkpoint
without it (every small CNN's, as before backbones existed) holds an ArchSpec.
:func:`write` and :func:`read` are the only code that saves or loads one (``torch.save`` of the dict, as it
always was: a checkpoint carries no format entry, the keys are its layout); :func:`read` checks the keys and
turns a missing, truncated or foreign file into an :class:`~taskdist.artifacts.io.ArtifactError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from taskdist.artifacts import io
from taskdist.nets import models
from taskdist.specs import ArchSpec, BackboneSpec, from_params, to_params

KEYS = ("state_dict", "arch", "in_channels", "n_classes", "task", "metrics")
NETWORK_KINDS = ("cnn", "torchvision")
"""Values of a checkpoint's ``network`` key (absent: ``cnn``)."""


def make(model: models.TaskNet | models.BackboneNet, task: dict, metrics: dict, history: list[dict]) -> dict:
    """The checkpoint of ``model``: weights, architecture, the task and its metrics."""
    checkpoint = {
        # contiguous: a network trained in channels-last layout is stored in the default one, as before
        "state_dict": {k: v.cpu().contiguous() for k, v in model.state_dict().items()},
        "arch": to_params(model.spec),
        "in_channels": model.in_channels,
        "n_classes": model.n_classes,
        "task": task,
        "metrics": metrics,
        "history": history,
    }
    if isinstance(model.spec, BackboneSpec):  # a small CNN's checkpoint stays as it was
        checkpoint["network"] = "torchvision"
    return checkpoint


def write(checkpoint: dict, path: str | Path) -> None:
    """Write ``checkpoint`` (a dict from :func:`make`) to ``path`` atomically.

    Raises
    ------
    ValueError
        If ``checkpoint`` lacks one of :data:`KEYS`.
    """
    missing = [k for k in KEYS if not isinstance(checkpoint, dict) or k not in checkpoint]
    if missing:
        raise ValueError(f"a checkpoint needs the keys {list(KEYS)}; {path} would lack {missing}")
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(checkpoint, f)  # a file object: saved by path, torch records the (random) temporary name


def read(path: str | Path) -> dict:
    """The checkpoint at ``path``, on the CPU (tensors only: ``weights_only``).

    Raises
    ------
    ArtifactError
        If the file is missing, truncated, not a checkpoint or lacks one of :data:`KEYS`; the message names
        the file and how to recompute it.
    """
    obj = io.read_with(path, "checkpoint", lambda p: torch.load(p, map_location="cpu", weights_only=True))
    missing = [k for k in KEYS if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise io.ArtifactError(
            f"checkpoint {path} lacks {missing}; it was not written by this taskdist: {io.recompute_hint(path)}"
        )
    return obj


def read_all(paths: Iterable[str | Path]) -> dict[str, dict]:
    """The checkpoints at ``paths`` by the id of the task each network was trained on; a task twice is an error."""
    return io.by_name(((ckpt["task"]["id"], path, ckpt) for path in paths for ckpt in [read(path)]), "checkpoint")


def load_network(checkpoint: dict, device: torch.device) -> models.TaskNet | models.BackboneNet:
    """The network of ``checkpoint`` on ``device``, in eval mode.

    A backbone's weights come from the checkpoint's state dict only: its spec's weights file is not
    read again, nor are torchvision weights fetched.
    """
    kind = checkpoint.get("network", "cnn")
    if kind not in NETWORK_KINDS:
        raise ValueError(f"checkpoint network must be one of {NETWORK_KINDS}, got {kind!r}")
    shape = (checkpoint["in_channels"], checkpoint["n_classes"])
    if kind == "torchvision":
        net = models.BackboneNet(from_params(BackboneSpec, checkpoint["arch"]), *shape, load_weights=False)
    else:
        net = models.TaskNet(from_params(ArchSpec, checkpoint["arch"]), *shape)
    net.load_state_dict(checkpoint["state_dict"])
    return net.to(device).eval()
