"""The operations an edge of a cell can carry (the DARTS set), and their parameter counts.

All operations map ``(B, C, H, W)`` to ``(B, C, H, W)``: stride 1, "same"
padding, channel count unchanged, so any input size works. Convolutions
follow the DARTS ordering ReLU -> conv -> BatchNorm, without biases:

============== ===================================================================
name           module
============== ===================================================================
none           zeros (the edge is absent)
skip_connect   identity
max_pool_3x3   3x3 max pooling
avg_pool_3x3   3x3 average pooling (padding not counted)
sep_conv_kxk   two depthwise-separable blocks (ReLU, depthwise kxk, pointwise 1x1, BN), k = 3, 5, 7
dil_conv_kxk   ReLU, depthwise kxk with dilation 2, pointwise 1x1, BN; k = 3, 5
conv_7x1_1x7   ReLU, 1x7 conv, 7x1 conv, BN
============== ===================================================================

References
----------
Liu, Simonyan, Yang. "DARTS: Differentiable Architecture Search", ICLR 2019
(``operations.py`` of the reference implementation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Zero(nn.Module):
    """The ``none`` operation: an all-zero output of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


def dil_conv(c: int, k: int, dilation: int) -> nn.Sequential:
    """ReLU, depthwise ``k x k`` conv with ``dilation``, pointwise conv, BN (spatial size kept)."""
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, k, padding=pad, dilation=dilation, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        _bn(c),
    )


def sep_conv(c: int, k: int) -> nn.Sequential:
    """Two depthwise-separable blocks (each ``dil_conv`` with dilation 1), as in DARTS."""
    return nn.Sequential(*dil_conv(c, k, 1), *dil_conv(c, k, 1))


def conv_7x1_1x7(c: int) -> nn.Sequential:
    """ReLU, 1x7 conv, 7x1 conv, BN."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, (1, 7), padding=(0, 3), bias=False),
        nn.Conv2d(c, c, (7, 1), padding=(3, 0), bias=False),
        _bn(c),
    )


OPS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda c: Zero(),
    "skip_connect": lambda c: nn.Identity(),
    "max_pool_3x3": lambda c: nn.MaxPool2d(3, stride=1, padding=1),
    "avg_pool_3x3": lambda c: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    "sep_conv_3x3": lambda c: sep_conv(c, 3),
    "sep_conv_5x5": lambda c: sep_conv(c, 5),
    "sep_conv_7x7": lambda c: sep_conv(c, 7),
    "dil_conv_3x3": lambda c: dil_conv(c, 3, 2),
    "dil_conv_5x5": lambda c: dil_conv(c, 5, 2),
    "conv_7x1_1x7": conv_7x1_1x7,
}
"""Operation name -> constructor taking the channel count."""

OP_NAMES: tuple[str, ...] = tuple(OPS)
"""All operation names, in the canonical order used by every space and table."""


def op_param_count(name: str, c: int) -> int:
    """Parameters of operation ``name`` at ``c`` channels, from the formulas (no module is built).

    ``dil_conv_kxk``: ``c k^2 + c^2 + 2c`` (depthwise, pointwise, BN scale and shift);
    ``sep_conv_kxk``: twice that; ``conv_7x1_1x7``: ``14 c^2 + 2c``; the rest: 0.
    """
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OP_NAMES)}")
    if name.startswith(("sep_conv_", "dil_conv_")):
        k = int(name[-1])
        block = c * k * k + c * c + 2 * c
        return 2 * block if name.startswith("sep_conv_") else block
    if name == "conv_7x1_1x7":
        return 14 * c * c + 2 * c
    return 0
