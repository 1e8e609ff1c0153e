"""Torchvision classification architectures as a ``body`` without its classifier: shared by task networks
(:class:`taskdist.nets.models.BackboneNet`) and the Task2Vec probe (:func:`taskdist.methods.probes.torchvision_probe`).

A torchvision model's classifier is its last registered ``nn.Linear`` (:func:`final_linear`); the body is
the model with it replaced by ``nn.Identity``. Its weights come from the seed, from a state dict file
(:func:`read_state_dict`) or from a torchvision weights name (:func:`weights_enum`; torchvision
downloads them when the network is built, never when a config is checked). Images reach task networks
scaled to [-1, 1] (:func:`taskdist.data.tasks.arrays`); :class:`InputAdapter` maps them to what torchvision
models expect. Importing this module imports torch; torchvision is imported by the functions that need it.
"""

from __future__ import annotations

import difflib
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from taskdist.specs import weights_kind

__all__ = [
    "InputAdapter",
    "check_arch",
    "final_linear",
    "looks_like_weights_name",
    "read_state_dict",
    "set_submodule",
    "size_error",
    "smallest_size",
    "to_gray",
    "torchvision_body",
    "weights_enum",
    "weights_kind",
    "weights_normalisation",
]

_WEIGHTS_NAME = re.compile(r"^(?:[A-Za-z0-9]+_Weights\.)?[A-Za-z0-9_]+$")
"""What a torchvision weights name looks like: ``IMAGENET1K_V1``, ``DEFAULT``, ``ResNet18_Weights.IMAGENET1K_V1``."""


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` (with close matches) unless ``arch`` is a torchvision classification architecture."""
    import torchvision.models

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        close = difflib.get_close_matches(str(arch), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {known}"
        raise ValueError(f"{arch!r} is not a torchvision classification architecture{hint}")


def looks_like_weights_name(value: str) -> bool:
    """Whether ``value`` has the form of a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``,
    ``ResNet18_Weights.IMAGENET1K_V1``) rather than of a file path (``weights/resnet18.pth``)."""
    return bool(_WEIGHTS_NAME.fullmatch(value))


def weights_enum(arch: str, name: str):
    """The torchvision weights ``name`` of ``arch`` (``DEFAULT``, ``IMAGENET1K_V1`` or
    ``ResNet18_Weights.IMAGENET1K_V1``) as its enum member; nothing downloads.

    Raises
    ------
    ValueError
        If ``arch`` has no weights of that name (the message lists those it has).
    """
    import torchvision.models

    try:
        enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError) as e:
        raise ValueError(f"torchvision has no weights for {arch!r} ({e})") from None
    members = list(enum.__members__)
    prefix, _, member = name.rpartition(".")
    if prefix and prefix != enum.__name__:
        raise ValueError(f"{name!r} are not weights of {arch!r}: its weights are {enum.__name__}.{members}")
    if member not in enum.__members__:
        close = difflib.get_close_matches(member, members, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"{arch!r} has no torchvision weights {name!r}; {hint}it has {members}")
    return enum[member]


def weights_normalisation(weights) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` of the inputs torchvision ``weights`` (an enum member) were trained on, from their
    ``transforms()`` (which downloads nothing)."""
    transform = weights.transforms()
    return tuple(float(v) for v in transform.mean), tuple(float(v) for v in transform.std)


def size_error(arch: str, size: int) -> str | None:
    """Why ``arch`` cannot take ``size x size`` images, or None if it can.

    One forward pass of a 3-channel image on the ``meta`` device (shapes only: no weights are
    allocated, about 0.1 s), in eval mode; e.g. ``vgg16`` needs at least 32 px (five 2x2 max pools),
    ``densenet121`` 29 px, a ViT exactly its ``image_size``.
    """
    import torchvision.models

    with torch.device("meta"):
        model = torchvision.models.get_model(arch, weights=None).eval()
        x = torch.zeros(1, 3, size, size)  # (1, 3, size, size)
    try:
        with torch.no_grad():
            model(x)
    except (RuntimeError, ValueError, AssertionError, IndexError) as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None


def smallest_size(arch: str, start: int, stop: int = 512) -> int | None:
    """The smallest image side in ``[start, stop]`` that ``arch`` accepts (:func:`size_error`), or None."""
    return next((s for s in range(start, stop + 1) if size_error(arch, s) is None), None)


def read_state_dict(weights: str | Path, arch: str) -> dict[str, torch.Tensor]:
    """The state dict saved with ``torch.save(model.state_dict(), weights)`` (read with ``weights_only=True``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a state dict (a mapping of names to tensors).
    """
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file for torchvision architecture {arch!r} not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        raise ValueError(f"cannot read weights file {path} as a torch state dict: {e}") from e
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"weights file {path} must hold a state dict (a mapping of names to tensors, as saved by "
            f"torch.save(model.state_dict(), path)), got {type(state).__name__}"
        )
    return dict(state)


def final_linear(model: nn.Module, arch: str) -> tuple[str, nn.Linear]:
    """The classifier of a torchvision model: its last registered ``nn.Linear``, with its name."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"torchvision architecture {arch!r} has no final nn.Linear classifier to replace")
    return linears[-1]


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` by ``module``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def to_gray(model: nn.Module, arch: str) -> None:
    """Replace the first 3-channel ``nn.Conv2d`` by a 1-channel one with the RGB filters summed,
    ``W'[o, 0] = sum_c W[o, c]``: a gray image ``g`` gives the response RGB ``(g, g, g)`` gives."""
    first = next(
        ((name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), None
    )
    if first is None:
        raise ValueError(f"torchvision architecture {arch!r} has no 3-channel Conv2d to adapt to gray input")
    name, conv = first
    if conv.groups != 1:
        raise ValueError(f"cannot adapt the grouped first convolution {name!r} of {arch!r} to 1 channel")
    gray = nn.Conv2d(
        1,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        gray.weight.copy_(conv.weight.sum(dim=1, keepdim=True))  # (out, 1, kh, kw)
        if conv.bias is not None:
            gray.bias.copy_(conv.bias)
    set_submodule(model, name, gray)


def torchvision_body(arch: str, weights: str | None = None) -> tuple[nn.Module, int]:
    """``arch`` with its final ``nn.Linear`` replaced by ``nn.Identity``, and that Linear's ``in_features``.

    ``weights``: None keeps the initialisation of the current (global) RNG; a full torchvision
    weights name (:func:`taskdist.specs.weights_kind`) is fetched by torchvision (a download unless cached); otherwise
    the state dict file at that path is loaded, its classifier entries (of any number of classes)
    ignored and every other entry required (``strict``).

    Raises
    ------
    ValueError
        For an architecture without a final ``nn.Linear``, or a weights file that does not match it.
    """
    import torchvision.models

    kind = weights_kind(weights)
    model = torchvision.models.get_model(arch, weights=weights_enum(arch, weights) if kind == "torchvision" else None)
    fc_name, fc = final_linear(model, arch)
    set_submodule(model, fc_name, nn.Identity())
    if kind == "file":
        state = read_state_dict(weights, arch)
        body_state = {k: v for k, v in state.items() if k not in (f"{fc_name}.weight", f"{fc_name}.bias")}
        try:
            model.load_state_dict(body_state, strict=True)
        except RuntimeError as e:
            raise ValueError(f"weights file {weights} does not match torchvision architecture {arch!r}: {e}") from e
    return model, fc.in_features


class InputAdapter(nn.Module):
    """Images as the workflow gives them to what a torchvision model expects.

    ``x`` in [-1, 1] (:func:`taskdist.data.tasks.arrays`) -> ``(x + 1) / 2`` in [0, 1] -> a single gray
    channel repeated to 3 -> ``(x - mean) / std`` per channel. ``mean`` and ``std`` are buffers, not
    parameters: they are saved with the network and the Fisher never sees them.

    Repeating the gray channel (rather than summing the first convolution's RGB filters, as
    :func:`to_gray` does for the Task2Vec probe) keeps the response to a gray image exactly that to
    its RGB replica, even with per-channel normalisation and zero padding at the borders, and
    keeps the body's state dict that of the torchvision model (a weights file loads unchanged).
    """

    def __init__(self, in_channels: int, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must be 3 per-channel values, std > 0; got mean={mean}, std={std}")
        self.in_channels = in_channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2  # (B, C, H, W) in [0, 1]
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        return (x - self.mean) / self.std  # (B, 3, H, W)
