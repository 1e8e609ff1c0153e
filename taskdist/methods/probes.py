"""The Task2Vec probe: a network shared by all tasks, from the workflow's training or from torchvision.

:func:`probe_from_spec` turns a :class:`~taskdist.specs.ProbeSpec` into the probe network:
``kind="trained"``, the workflow's :class:`~taskdist.nets.models.TaskNet` trained
on the probe tasks (its checkpoint, :mod:`taskdist.artifacts.checkpoint`);
``kind="torchvision"``, a torchvision classification architecture split
into ``body`` and a new linear ``head`` (:func:`torchvision_probe`), its
weights read from a file (nothing downloads). :func:`taskdist.methods.task2vec.embed`
takes either.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from taskdist.checks import check_int
from taskdist.nets.backbones import check_arch, final_linear, read_state_dict, set_submodule, to_gray
from taskdist.specs import ProbeSpec

PROBE_KINDS = ("trained", "torchvision")

__all__ = ["PROBE_KINDS", "TorchvisionProbe", "probe_from_spec", "torchvision_probe"]

class TorchvisionProbe(nn.Module):
    """A torchvision classifier split into ``body`` (features) and ``head`` (a new linear classifier).

    ``body`` is the torchvision model with its final ``nn.Linear`` replaced by ``nn.Identity``,
    so ``body(x)`` has shape ``(B, head.in_features)``.
    """

    def __init__(self, body: nn.Module, head: nn.Linear, arch: str):
        super().__init__()
        self.arch = arch
        self.body = body
        self.head = head

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)


def torchvision_probe(
    arch: str, weights: str | Path | None, in_channels: int, n_classes: int, *, seed: int = 0
) -> TorchvisionProbe:
    """A torchvision classification model as a probe with an explicit ``body`` / ``head`` split.

    The model is built without weights (nothing downloads), then, if ``weights`` is given, the
    state dict in that file is loaded into the *original* model, classifier included (so the
    file must match the architecture exactly). Then:

    - the final ``nn.Linear`` (``fc`` of a ResNet, ``classifier[-1]`` of a VGG or MobileNet,
      ``heads.head`` of a ViT, ...) is replaced by ``nn.Identity`` in the body and by a new
      ``nn.Linear(in_features, n_classes)`` head;
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
        ``torch.load(weights_only=True)``; None keeps the random initialisation.
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
    import torchvision.models

    check_arch(arch)
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
    check_int("n_classes", n_classes, minimum=1)

    state = read_state_dict(weights, arch) if weights is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.get_model(arch, weights=None)
        fc_name, fc = final_linear(model, arch)
        rows = state.get(f"{fc_name}.weight") if state is not None else None
        if isinstance(rows, torch.Tensor) and rows.dim() == 2 and rows.shape[0] != fc.out_features:
            # a file trained with another number of classes: build the matching classifier first
            model = torchvision.models.get_model(arch, weights=None, num_classes=rows.shape[0])
            fc_name, fc = final_linear(model, arch)
        if state is not None:
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ValueError(f"weights file {weights} does not match torchvision architecture {arch!r}: {e}") from e
        head = nn.Linear(fc.in_features, n_classes)
    set_submodule(model, fc_name, nn.Identity())
    if in_channels == 1:
        to_gray(model, arch)
    return TorchvisionProbe(model, head, arch).eval()


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
    if spec.kind not in PROBE_KINDS:
        raise ValueError(f"probe kind must be one of {PROBE_KINDS}, got {spec.kind!r}")
    if spec.kind == "torchvision" and not spec.arch:
        raise ValueError("a torchvision probe needs an architecture name, e.g. arch='resnet18'")
    if spec.kind == "trained" and (spec.arch is not None or spec.weights is not None):
        raise ValueError(
            f"a trained probe is the workflow's TaskNet: arch and weights must be None, "
            f"got arch={spec.arch!r}, weights={spec.weights!r}"
        )
