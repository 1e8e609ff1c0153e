"""Task networks: a small CNN built from an :class:`ArchSpec`.

Every network is split into a ``body`` (the feature extractor whose Fisher
Information we measure) and a ``head`` (the linear classifier that is refitted
whenever the network meets a new task).
"""

from __future__ import annotations

import torch
from torch import nn

from taskdist.specs import ArchSpec


class ConvBody(nn.Module):
    """Stacked conv stages, average pooling to a ``pool x pool`` grid and one hidden layer."""

    def __init__(self, spec: ArchSpec, in_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for width in spec.widths:
            for _ in range(spec.convs_per_stage):
                layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU()]
                c = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(spec.pool)
        self.fc = nn.Linear(c * spec.pool**2, spec.hidden)
        self.out_features = spec.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H', W')
        x = self.pool(x).flatten(1)  # (B, C * pool * pool)
        return torch.relu(self.fc(x))  # (B, hidden)


class TaskNet(nn.Module):
    """``body`` followed by a linear ``head`` over ``n_classes`` labels."""

    def __init__(self, spec: ArchSpec, in_channels: int, n_classes: int):
        super().__init__()
        self.spec = spec
        self.in_channels = in_channels
        self.body = ConvBody(spec, in_channels)
        self.head = nn.Linear(self.body.out_features, n_classes)

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)

    def with_new_head(self, n_classes: int, seed: int) -> TaskNet:
        """A copy sharing nothing with ``self``, with a freshly initialised head."""
        net = TaskNet(self.spec, self.in_channels, n_classes)
        net.body.load_state_dict(self.body.state_dict())
        gen = torch.Generator().manual_seed(seed)
        bound = 1.0 / self.body.out_features**0.5
        with torch.no_grad():
            net.head.weight.uniform_(-bound, bound, generator=gen)
            net.head.bias.uniform_(-bound, bound, generator=gen)
        return net


def features(body: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``body(images)`` in batches, without gradients and in eval mode (restored after): ``(N, D)`` on the body's
    device."""
    device = next(body.parameters()).device
    was_training = body.training
    body.eval()
    with torch.no_grad():
        out = torch.cat([body(images[s : s + batch_size].to(device)) for s in range(0, len(images), batch_size)])
    body.train(was_training)
    return out.flatten(1)


def build(spec: ArchSpec, in_channels: int, n_classes: int, seed: int) -> TaskNet:
    """Build a :class:`TaskNet` whose initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
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
