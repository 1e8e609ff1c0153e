"""A network built from one cell genotype: stem, stacked cells with reductions, linear head.

Layout, for ``NetSpec(width=w, cells=n)``::

    stem     3x3 conv (in_channels -> w, stride 2 by default), BN
    cell 1   the genotype's DAG at w channels
    reduce   ReLU, 3x3 conv with stride 2 (c -> 2c), BN      } repeated
    cell k   the genotype's DAG at 2c channels                } n - 1 times
    pool     ReLU, global average pool                 -> (B, w 2^(n-1))
    head     linear -> n_classes

Every cell shares the genotype (not the weights), as in DARTS. As
:class:`taskdist.nets.models.TaskNet`, the network is split into ``body`` and
``head``, and any input size >= 1 pixel works.
"""

from __future__ import annotations

import torch
from torch import nn

from taskdist.nas.ops import OPS, op_param_count
from taskdist.nas.space import Genotype
from taskdist.specs import NetSpec


class Cell(nn.Module):
    """The genotype's DAG at ``channels`` channels; output = last node."""

    def __init__(self, genotype: Genotype, channels: int):
        super().__init__()
        self.genotype = genotype
        self.edges = nn.ModuleDict({f"{i}_{j}": OPS[op](channels) for i, j, op in genotype.edges})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]  # each (B, C, H, W)
        for j in range(1, self.genotype.nodes):
            states.append(sum(self.edges[f"{i}_{j}"](states[i]) for i, to, _ in self.genotype.edges if to == j))
        return states[-1]


def reduction(c_in: int, c_out: int) -> nn.Sequential:
    """Between cells: ReLU, 3x3 conv with stride 2, BN (halves H and W, rounding up)."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out))


class CellBody(nn.Module):
    """Stem, cells and reductions, global pooling: ``(B, C_in, H, W) -> (B, out_features)``."""

    def __init__(self, genotype: Genotype, spec: NetSpec, in_channels: int):
        super().__init__()
        widths = spec.cell_widths()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=spec.stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
        )
        layers: list[nn.Module] = []
        for k, c in enumerate(widths):
            if k > 0:
                layers.append(reduction(widths[k - 1], c))
            layers.append(Cell(genotype, c))
        self.cells = nn.Sequential(*layers)
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cells(self.stem(x))  # (B, C, H', W')
        return torch.relu(x).mean(dim=(2, 3))  # (B, C)


class Network(nn.Module):
    """``body`` (:class:`CellBody`) followed by a linear ``head`` over ``n_classes`` labels."""

    def __init__(self, genotype: Genotype, spec: NetSpec, in_channels: int, n_classes: int):
        super().__init__()
        if in_channels < 1 or n_classes < 1:
            raise ValueError(f"need in_channels >= 1 and n_classes >= 1, got {in_channels} and {n_classes}")
        self.genotype = genotype
        self.spec = spec
        self.body = CellBody(genotype, spec, in_channels)
        self.head = nn.Linear(self.body.out_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)


def build(genotype: Genotype, spec: NetSpec, in_channels: int, n_classes: int, seed: int) -> Network:
    """Build a :class:`Network` whose initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network(genotype, spec, in_channels, n_classes)


def param_count(genotype: Genotype, spec: NetSpec, in_channels: int, n_classes: int) -> int:
    """Number of parameters of ``Network(genotype, spec, in_channels, n_classes)``, from formulas.

    Stem ``9 c_in w + 2w``; per cell at ``c`` channels the sum of its
    operations (:func:`~taskdist.nas.ops.op_param_count`); per reduction
    ``9 c (2c) + 2 (2c)``; head ``C n + n``. Nothing is built, so this is cheap
    enough for search tables; a test checks it against ``sum(p.numel())``.
    """
    widths = spec.cell_widths()
    total = 9 * in_channels * widths[0] + 2 * widths[0]
    for k, c in enumerate(widths):
        if k > 0:
            total += 9 * widths[k - 1] * c + 2 * c
        total += sum(op_param_count(op, c) for op in genotype.ops)
    return total + widths[-1] * n_classes + n_classes
