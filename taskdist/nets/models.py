"""Task networks: a small CNN built from an :class:`ArchSpec`, or a torchvision architecture from a
:class:`BackboneSpec`.

Every network is split into a ``body`` (the feature extractor whose Fisher
Information we measure) and a ``head`` (the linear classifier that is refitted
whenever the network meets a new task). :func:`build` builds either from its spec.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from taskdist.nets import backbones
from taskdist.progress import Progress
from taskdist.specs import ArchSpec, BackboneSpec, ProbeSpec

log = logging.getLogger(__name__)


class ConvBody(nn.Module):
    """Stacked conv stages, average pooling to a ``pool x pool`` grid and one hidden layer.

    A stage is ``convs_per_stage`` times (3x3 conv, ReLU), then a 2x2 max pool. The stage's last ReLU runs
    after the pool: ReLU and max commute (``max(relu(a), relu(b)) = relu(max(a, b))``), and the gradient
    reaches the same input element either way (the window's first maximum; none where it is <= 0), so the
    values and gradients are the same bit for bit (``tests/test_train.py``) while the ReLU and its backward
    touch a quarter of the elements. The parameters' names are those of the plain order.
    """

    def __init__(self, spec: ArchSpec, in_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for width in spec.widths:
            for _ in range(spec.convs_per_stage):
                layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU()]
                c = width
            layers.insert(len(layers) - 1, nn.MaxPool2d(2))  # pool, then the stage's last ReLU
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(spec.pool)
        self.fc = nn.Linear(c * spec.pool**2, spec.hidden)
        self.out_features = spec.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H', W')
        x = self.pool(x).flatten(1)  # (B, C * pool * pool)
        return torch.relu(self.fc(x))  # (B, hidden)


class HeadedNet(nn.Module):
    """A ``body`` followed by a new linear ``head`` over ``n_classes`` labels, built from ``spec`` for images of
    ``in_channels`` channels: the base of :class:`TaskNet`, :class:`BackboneNet` and the Task2Vec probe
    (:class:`taskdist.methods.probes.TorchvisionProbe`).

    ``width`` is the body's output width, ``body.out_features`` when None; the head is built (from the
    global RNG) after the body.
    """

    def __init__(
        self, spec: ArchSpec | BackboneSpec | ProbeSpec, in_channels: int, body: nn.Module, n_classes: int,
        *, width: int | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.in_channels = in_channels
        self.body = body
        self.head = nn.Linear(body.out_features if width is None else width, n_classes)

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)


class TaskNet(HeadedNet):
    """The small CNN: a :class:`ConvBody` followed by a linear ``head`` over ``n_classes`` labels."""

    def __init__(self, spec: ArchSpec, in_channels: int, n_classes: int):
        super().__init__(spec, in_channels, ConvBody(spec, in_channels), n_classes)

    def with_new_head(self, n_classes: int, seed: int) -> TaskNet:
        """A copy sharing nothing with ``self``, with a freshly initialised head."""
        net = TaskNet(self.spec, self.in_channels, n_classes)
        net.body.load_state_dict(self.body.state_dict())
        _init_head(net.head, seed)
        return net


class BackboneBody(nn.Module):
    """A torchvision model without its classifier, behind the fixed :class:`~taskdist.nets.backbones.InputAdapter`."""

    def __init__(self, spec: BackboneSpec, in_channels: int, load_weights: bool):
        super().__init__()
        self.adapter = backbones.InputAdapter(in_channels, spec.mean, spec.std)
        self.model, self.out_features = backbones.torchvision_body(spec.arch, spec.weights if load_weights else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.adapter(x))  # (B, out_features)


class BackboneNet(HeadedNet):
    """A torchvision classification architecture as a task network: ``body`` (:class:`BackboneBody`, the
    model with its final ``nn.Linear`` replaced by ``nn.Identity``) followed by a new linear ``head`` over
    ``n_classes`` labels; the interface of :class:`TaskNet`.

    The constructor initialises every weight from the global RNG and, with ``load_weights``, loads the
    spec's weights (file or torchvision's) into the body; :func:`build` seeds it.
    """

    def __init__(self, spec: BackboneSpec, in_channels: int, n_classes: int, *, load_weights: bool = True):
        super().__init__(spec, in_channels, BackboneBody(spec, in_channels, load_weights), n_classes)

    def with_new_head(self, n_classes: int, seed: int) -> BackboneNet:
        """A copy sharing nothing with ``self``, with a freshly initialised head; like a new network (as
        :meth:`TaskNet.with_new_head` makes one) in train mode with every parameter trainable."""
        net = copy.deepcopy(self)
        net.head = nn.Linear(self.body.out_features, n_classes).to(self.head.weight.device)
        _init_head(net.head, seed)
        return net.train().requires_grad_(True)


def _init_head(head: nn.Linear, seed: int) -> None:
    """``U(-1/sqrt(D), 1/sqrt(D))`` weights, then bias, from ``seed`` (``D`` the head's inputs)."""
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / head.in_features**0.5
    with torch.no_grad():
        head.weight.copy_(torch.empty(head.weight.shape).uniform_(-bound, bound, generator=gen))
        head.bias.copy_(torch.empty(head.bias.shape).uniform_(-bound, bound, generator=gen))


def features(body: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``body(images)`` in batches, without gradients and in eval mode (restored after): ``(N, D)`` on the body's
    device."""
    device = next(body.parameters()).device
    was_training = body.training
    body.eval()
    parts = []
    with torch.no_grad(), Progress("features", len(images), "samples", logger=log, quiet=True) as progress:
        for s in range(0, len(images), batch_size):
            parts.append(body(images[s : s + batch_size].to(device)))  # (B, ...)
            progress.advance(len(parts[-1]))
    out = torch.cat(parts)
    body.train(was_training)
    return out.flatten(1)


def build(spec: ArchSpec | BackboneSpec, in_channels: int, n_classes: int, seed: int) -> TaskNet | BackboneNet:
    """Build the network of ``spec`` (a :class:`TaskNet` or a :class:`BackboneNet`) whose initial weights depend
    only on ``seed`` (and, for a backbone with weights, on them: then only its head depends on ``seed``)."""
    if not isinstance(spec, (ArchSpec, BackboneSpec)):
        raise TypeError(f"spec must be an ArchSpec or a BackboneSpec, got {type(spec).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(spec, BackboneSpec):
            return BackboneNet(spec, in_channels, n_classes)
        return TaskNet(spec, in_channels, n_classes)


def resolve_device(device: str) -> torch.device:
    """Turn the config's ``cpu`` / ``cuda`` / ``auto`` into a :class:`torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was configured but torch sees no CUDA device; use 'cpu' or 'auto'")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return torch.device(device)
