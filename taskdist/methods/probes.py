"""The Task2Vec probe: a network shared by all tasks, from the workflow's training or from torchvision.

:func:`probe_from_spec` turns a :class:`~taskdist.specs.ProbeSpec` into the probe network:
``kind="trained"``, the workflow's :class:`~taskdist.nets.models.TaskNet` trained
on the probe tasks (its checkpoint, :mod:`taskdist.artifacts.checkpoint`);
``kind="torchvision"``, a torchvision classification architecture split
into ``body`` and a new linear ``head`` (:func:`torchvision_probe`, on the task networks'
:func:`~taskdist.nets.backbones.torchvision_body` and :class:`~taskdist.nets.models.HeadedNet`), its
weights read from a file (nothing downloads). :func:`taskdist.methods.task2vec.embed`
takes either.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from taskdist.checks import check_choice, check_int
from taskdist.nets.backbones import check_arch, to_gray, torchvision_body
from taskdist.nets.models import HeadedNet
from taskdist.specs import ProbeSpec

PROBE_KINDS = ("trained", "torchvision")

__all__ = ["PROBE_KINDS", "TorchvisionProbe", "probe_from_spec", "torchvision_probe"]

class TorchvisionProbe(HeadedNet):
    """A torchvision classifier split into ``body`` (features) and ``head`` (a new linear classifier).

    ``body`` is the torchvision model with its final ``nn.Linear`` replaced by ``nn.Identity``
    (:func:`taskdist.nets.backbones.torchvision_body`), so ``body(x)`` has shape ``(B, head.in_features)``.

    Why not a :class:`~taskdist.nets.models.BackboneNet`: that one puts an
    :class:`~taskdist.nets.backbones.InputAdapter` (rescaling, normalisation, gray repeated to RGB) before
    the torchvision model, whereas the probe's body is the bare model, fed the images as they are, and a
    gray probe sums its first convolution's RGB filters (:func:`~taskdist.nets.backbones.to_gray`). The
    Task2Vec embedding is keyed by the body's module names (``"conv1"``, ``"layer1.0.conv1"``) and its
    values depend on what the body sees, so the adapter would change both. Only ``arch`` is added here.
    """

    @property
    def arch(self) -> str:
        return self.spec.arch


def torchvision_probe(
    arch: str, weights: str | Path | None, in_channels: int, n_classes: int, *, seed: int = 0
) -> TorchvisionProbe:
    """A torchvision classification model as a probe with an explicit ``body`` / ``head`` split.

    The body is :func:`taskdist.nets.backbones.torchvision_body` (built without weights, nothing
    downloads unless ``weights`` is a full torchvision weights name): the model with its final
    ``nn.Linear`` (``fc`` of a ResNet, ``classifier[-1]`` of a VGG or MobileNet, ``heads.head`` of a ViT,
    ...) replaced by ``nn.Identity``, with, if ``weights`` is a file, the state dict in that file loaded
    (its classifier entries, of any number of classes, ignored; every other entry required). Then:

    - a new ``nn.Linear(in_features, n_classes)`` head;
    - for ``in_channels == 1`` the first convolution taking 3 channels is replaced by one taking
      1 channel whose filters are the RGB filters summed over the channel axis,
      ``W'[o, 0] = sum_c W[o, c]``: a gray image ``g`` then gives exactly the response the RGB
      model gives to ``(g, g, g)``.

    Parameters
    ----------
    arch
        Name from ``torchvision.models.list_models(module=torchvision.models)``, e.g.
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"vgg11"``, ``"mobilenet_v3_small"``.
    weights
        Path of a state dict saved with ``torch.save(model.state_dict(), path)``, read with
        ``torch.load(weights_only=True)`` (or a full torchvision weights name,
        :func:`taskdist.specs.weights_kind`); None keeps the random initialisation.
    in_channels
        1 (gray) or 3 (RGB) input channels.
    n_classes
        Outputs of the new head, ``>= 1``.
    seed
        Seed of the random initialisation (of the whole model when ``weights`` is None, of the
        new head otherwise); the global RNG is left untouched.

    Returns
    -------
    TorchvisionProbe
        In eval mode, on CPU.

    Raises
    ------
    ValueError
        For an unknown ``arch``, an architecture without a final ``nn.Linear`` (e.g. SqueezeNet),
        ``in_channels`` not 1 or 3, ``n_classes < 1``, or a weights file that cannot be read as
        a state dict or does not match the architecture.
    FileNotFoundError
        If ``weights`` does not exist.
    """
    check_arch(arch)
    check_choice("in_channels", in_channels, (1, 3))
    check_int("n_classes", n_classes, minimum=1)

    weights = None if weights is None else str(weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        body, width = torchvision_body(arch, weights)
        probe = TorchvisionProbe(ProbeSpec("torchvision", arch, weights), in_channels, body, n_classes, width=width)
        if in_channels == 1:
            to_gray(probe.body, arch)
    return probe.eval()


def probe_from_spec(
    spec: ProbeSpec, *, in_channels: int, checkpoint: dict | None = None, n_classes: int = 2
) -> nn.Module:
    """The probe network described by ``spec``.

    Parameters
    ----------
    spec
        How to obtain the probe (:class:`~taskdist.specs.ProbeSpec`: ``kind``, ``arch``,
        ``weights``); checked here too, for callers outside a config.
    in_channels
        Channels of the experiment's images (torchvision probes are adapted to 1 channel).
    checkpoint
        For ``kind="trained"``: the checkpoint dict of the probe task's network
        (``results/models/{task}.pt``, see :func:`taskdist.stages.train_task`).
    n_classes
        Outputs of the probe's head; irrelevant to :func:`taskdist.methods.task2vec.embed`, which replaces it.
    """
    if not isinstance(spec, ProbeSpec):
        raise TypeError(f"spec must be a taskdist.specs.ProbeSpec (kind, arch, weights), got {type(spec).__name__}")
    _check_spec(spec)
    if spec.kind == "trained":
        if checkpoint is None:
            raise ValueError("a trained probe needs the checkpoint of the probe task's network")
        from taskdist.artifacts.checkpoint import load_network

        net = load_network(checkpoint, torch.device("cpu"))
        if net.in_channels != in_channels:
            raise ValueError(f"the probe network takes {net.in_channels} channels, the images have {in_channels}")
        return net
    if checkpoint is not None:
        raise ValueError("a torchvision probe takes its weights from spec.weights, not from a checkpoint")
    return torchvision_probe(spec.arch, spec.weights, in_channels, n_classes)


def _check_spec(spec: ProbeSpec) -> None:
    check_choice("probe kind", spec.kind, PROBE_KINDS)
    if spec.kind == "torchvision" and not spec.arch:
        raise ValueError("a torchvision probe needs an architecture name, e.g. arch='resnet18'")
    if spec.kind == "trained" and (spec.arch is not None or spec.weights is not None):
        raise ValueError(
            f"a trained probe is the workflow's TaskNet: arch and weights must be None, "
            f"got arch={spec.arch!r}, weights={spec.weights!r}"
        )
