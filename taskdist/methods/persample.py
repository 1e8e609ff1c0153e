"""Per-sample squared gradients, summed over a batch: the engines behind
:func:`taskdist.methods.fisher.fisher_diagonal`.

Both compute, for a batch ``x`` and logit-space vectors ``v_j`` (``(M, B, C)``),
``sum_i sum_j (J_i^T v_ij)^2`` per trainable parameter, with ``J_i`` the
Jacobian of the logits of sample ``i`` with respect to the weights, without a
Python loop over samples:

- :class:`HookEngine` (fast path): forward hooks record each Linear / Conv2d
  layer's input ``a``; one ``torch.autograd.grad`` per vector gives the
  per-sample gradients ``delta`` of the layer outputs, and per sample
  ``grad W = delta a^T`` (Linear) or ``delta unfold(a)^T`` (Conv2d),
  ``grad b = sum over positions of delta`` (the approach of BackPACK and
  Opacus). It raises :class:`Unsupported` for any other trainable module.
- :class:`FuncEngine` (any module): ``torch.func.vmap`` over samples of a
  ``torch.func.vjp`` of ``torch.func.functional_call``.

Which vectors ``v`` (the estimator) and how sums become the Fisher diagonal is
:mod:`taskdist.methods.fisher`'s business.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FuncEngine", "HookEngine", "Unsupported"]


class Unsupported(Exception):
    """The model cannot be handled by the hooks engine; use the torch.func engine."""


class HookEngine:
    """Per-sample squared gradients of Linear / Conv2d layers from activations and output grads."""

    def __init__(self, model: nn.Module):
        self.model = model
        name_of = {id(p): n for n, p in model.named_parameters()}
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        covered: set[int] = set()
        self.layers: list[tuple[nn.Module, str | None, str | None]] = []  # (module, weight name, bias name)
        for module in model.modules():
            own = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if not own:
                continue
            if not _hookable(module):
                raise Unsupported(f"trainable parameters in unsupported {type(module).__name__}")
            ids = [id(p) for p in own]
            if covered.intersection(ids):
                raise Unsupported("a trainable parameter is shared between modules")
            covered.update(ids)
            w = name_of[id(module.weight)] if module.weight.requires_grad else None
            b = module.bias
            b_name = name_of[id(b)] if b is not None and b.requires_grad else None
            self.layers.append((module, w, b_name))
        if covered != trainable:
            raise Unsupported("trainable parameters outside Linear/Conv2d modules")
        self.records: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor, int]]] = {}
        self.handles = [m.register_forward_hook(self._hook) for m, _, _ in self.layers]

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if len(inputs) != 1 or not isinstance(output, torch.Tensor):
            raise Unsupported(f"{type(module).__name__} not called with one positional input")
        self.records.setdefault(module, []).append((inputs[0].detach(), output, output._version))

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.records.clear()

    def squared_grads(
        self, x: torch.Tensor, vectors: Callable[[torch.Tensor], torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        self.records.clear()
        logits = self.model(x)  # (B, C)
        vecs = vectors(logits)  # (M, B, C)
        layers = []
        for module, w, b in self.layers:
            rec = self.records.get(module, [])
            if len(rec) > 1:
                raise Unsupported(f"{type(module).__name__} called {len(rec)} times in one forward")
            if rec and rec[0][1]._version != rec[0][2]:
                raise Unsupported(f"output of {type(module).__name__} modified in place")
            if rec and rec[0][1].requires_grad:
                layers.append((module, w, b, rec[0][0], rec[0][1]))
        self.records.clear()
        out: dict[str, torch.Tensor] = {}
        if not layers or not logits.requires_grad:
            return out
        outputs = [layer[4] for layer in layers]
        squares = [_LayerSquares(module, act, w, b) for module, w, b, act, _ in layers]
        for j in range(vecs.shape[0]):
            deltas = torch.autograd.grad(
                logits, outputs, grad_outputs=vecs[j], retain_graph=j < vecs.shape[0] - 1, allow_unused=True
            )
            for layer, delta in zip(squares, deltas, strict=True):
                if delta is not None:
                    layer.add(delta)
        for layer in squares:
            out.update(layer.result())
        return out


def _hookable(module: nn.Module) -> bool:
    own = dict(module.named_parameters(recurse=False))
    if type(module) is nn.Linear:
        return set(own) <= {"weight", "bias"}
    if type(module) is nn.Conv2d:
        return (
            set(own) <= {"weight", "bias"}
            and module.groups == 1
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
        )
    return False


def _im2col(act: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Patches of a Conv2d input, ``(B, P, in*kh*kw)`` with ``P = H_out*W_out``.

    Same values as ``F.unfold(...).transpose(1, 2)`` (weight order ``in, kh, kw``), built as
    a strided view and one copy, which is several times faster than ``F.unfold`` on CPU.
    """
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = conv.kernel_size, conv.dilation, conv.padding, conv.stride
    padded = F.pad(act, (pw, pw, ph, ph))  # (B, in, H + 2ph, W + 2pw)
    view = padded.unfold(2, dh * (kh - 1) + 1, sh).unfold(
        3, dw * (kw - 1) + 1, sw
    )  # (B, in, Ho, Wo, span_h, span_w)
    view = view[..., ::dh, ::dw]  # (B, in, Ho, Wo, kh, kw)
    batch, _, h_out, w_out = view.shape[:4]
    cols = view.permute(0, 1, 4, 5, 2, 3).reshape(batch, -1, h_out * w_out)  # (B, in*kh*kw, P)
    return cols.transpose(1, 2)  # (B, P, in*kh*kw)


class _LayerSquares:
    """Batch sum of the squared per-sample gradients of one Linear / Conv2d layer.

    ``add`` takes the per-sample gradient ``delta`` of the layer output for one logit-space
    vector; the squared per-sample weight and bias gradients are summed over the batch and
    over the vectors. The unfolded input of a convolution is computed once per batch.
    """

    def __init__(self, module: nn.Module, act: torch.Tensor, w: str | None, b: str | None):
        self.module, self.w, self.b = module, w, b
        self.batch = act.shape[0]
        self.conv = isinstance(module, nn.Conv2d)
        self.w_sum: torch.Tensor | None = None
        self.b_sum: torch.Tensor | None = None
        self.delta_sq: torch.Tensor | None = None
        if self.conv:
            self.cols: torch.Tensor | None = None
            if w is not None:
                self.cols = _im2col(act, module)  # (B, P, in*kh*kw)
        else:
            self.act = act if act.dim() == 2 else act.reshape(self.batch, -1, act.shape[-1])  # (B, [T,] in)

    def add(self, delta: torch.Tensor) -> None:
        if self.conv:
            delta = delta.reshape(self.batch, delta.shape[1], -1)  # (B, out, P)
            if self.cols is not None:
                w_sq = torch.bmm(delta, self.cols).square().sum(0)  # (out, in*kh*kw)
                self.w_sum = w_sq if self.w_sum is None else self.w_sum + w_sq
            b_sq = delta.sum(2).square().sum(0)  # (out,)
        elif self.act.dim() == 2:
            d_sq = delta.square()  # (B, out)
            self.delta_sq = d_sq if self.delta_sq is None else self.delta_sq + d_sq
            return
        else:
            delta = delta.reshape(self.batch, -1, delta.shape[-1])  # (B, T, out)
            if self.w is not None:
                w_sq = torch.bmm(delta.transpose(1, 2), self.act).square().sum(0)  # (out, in)
                self.w_sum = w_sq if self.w_sum is None else self.w_sum + w_sq
            b_sq = delta.sum(1).square().sum(0)  # (out,)
        self.b_sum = b_sq if self.b_sum is None else self.b_sum + b_sq

    def result(self) -> dict[str, torch.Tensor]:
        if self.delta_sq is not None:  # Linear on (B, in): sum_i delta_i^2 (a_i^2)^T
            self.w_sum = self.delta_sq.T @ self.act.square()  # (out, in)
            self.b_sum = self.delta_sq.sum(0)  # (out,)
        out: dict[str, torch.Tensor] = {}
        if self.w is not None and self.w_sum is not None:
            out[self.w] = self.w_sum.reshape(self.module.weight.shape)
        if self.b is not None and self.b_sum is not None:
            out[self.b] = self.b_sum
        return out


class FuncEngine:
    """Per-sample squared VJPs of any module with ``torch.func`` (vmap over samples).

    vmap holds every sample's gradients at once, ``B * M`` copies of the parameters (``M`` vectors per
    sample); a batch whose copies would exceed :attr:`MEMORY` bytes is taken in chunks of samples
    (e.g. a ResNet-18 with 10 classes at the exact estimator: 10 copies of 11 M parameters per sample).
    """

    MEMORY = 2**30

    def __init__(self, model: nn.Module):
        self.model = model
        named = dict(model.named_parameters())
        self.params = {n: p.detach() for n, p in named.items() if p.requires_grad}
        self.frozen = {n: p.detach() for n, p in named.items() if not p.requires_grad}
        self.frozen.update(dict(model.named_buffers()))

    def close(self) -> None:
        pass

    def squared_grads(
        self, x: torch.Tensor, vectors: Callable[[torch.Tensor], torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            logits = self.model(x)  # (B, C)
        vecs = vectors(logits)  # (M, B, C)
        model, frozen = self.model, self.frozen

        def one_sample(xi: torch.Tensor, vi: torch.Tensor) -> dict[str, torch.Tensor]:
            # xi (...), vi (M, C)
            def logits_of(params: dict[str, torch.Tensor]) -> torch.Tensor:
                logits = torch.func.functional_call(model, (params, frozen), (xi.unsqueeze(0),))  # (1, C)
                return logits.squeeze(0)  # (C,)

            _, vjp_fn = torch.func.vjp(logits_of, self.params)
            (grads,) = torch.func.vmap(vjp_fn)(vi)  # name -> (M, *shape)
            return {n: g.square().sum(0) for n, g in grads.items()}

        copy_bytes = sum(p.numel() * p.element_size() for p in self.params.values()) * vecs.shape[0]
        chunk = max(1, self.MEMORY // max(copy_bytes, 1))  # samples per vmap
        per_vector = vecs.transpose(0, 1)  # (B, M, C)
        sums: dict[str, torch.Tensor] = {}
        for s in range(0, x.shape[0], chunk):
            per_sample = torch.func.vmap(one_sample)(x[s : s + chunk], per_vector[s : s + chunk])  # name -> (b, *shape)
            for n, g in per_sample.items():
                sums[n] = sums[n] + g.sum(0) if n in sums else g.sum(0)
        return sums
