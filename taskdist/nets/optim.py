"""Adam, without the start-up cost of ``torch.optim`` in a fresh process.

Constructing or stepping any ``torch.optim`` optimizer imports
``torch._dynamo`` (the ``torch.compile`` machinery) the first time in a
process: about 3.5 s on this project's CPU machines, as long as importing
torch itself. The workflow runs a couple of hundred short jobs, each its own
process, so that import alone cost minutes of every default run.
:class:`Adam` performs exactly the update of ``torch.optim.Adam`` with its
defaults on CPU (single-tensor path, ``amsgrad=False``, ``maximize=False``,
weight decay as L2 added to the gradient, one step counter per parameter);
``tests/test_train.py`` checks it against torch's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class Adam:
    """Adam (Kingma & Ba) as in ``torch.optim.Adam``; ``lr`` may be changed between steps (schedules)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        self.params = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        if not lr >= 0 or not eps >= 0 or not weight_decay >= 0:
            raise ValueError(f"need lr, eps, weight_decay >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state: dict[int, tuple[int, torch.Tensor, torch.Tensor]] = {}  # index -> (step, m, v)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient.

        The parameters are updated together with torch's ``_foreach`` kernels (one call per operation for all
        tensors instead of one per tensor and operation: about a third of the optimiser's CPU on the small
        CNN), grouped by their step count; each kernel does, element by element, the single-tensor update's
        arithmetic, so the result is the same bit for bit (``tests/test_train.py``).
        """
        beta1, beta2 = self.betas
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(self.params):
            if p.grad is not None:
                if i not in self.state:
                    self.state[i] = (0, torch.zeros_like(p), torch.zeros_like(p))
                groups.setdefault(self.state[i][0] + 1, []).append(i)
        for step, idx in groups.items():
            params = [self.params[i] for i in idx]
            grads = [p.grad for p in params]
            if self.weight_decay != 0:
                grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
            m = [self.state[i][1] for i in idx]
            v = [self.state[i][2] for i in idx]
            torch._foreach_lerp_(m, grads, 1 - beta1)
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, math.sqrt(1 - beta2**step))
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, m, denom, value=-self.lr / (1 - beta1**step))
            for i, mi, vi in zip(idx, m, v, strict=True):
                self.state[i] = (step, mi, vi)
