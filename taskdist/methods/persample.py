"""Per-sample squared gradients, summed over a batch: the engines behind
:func:`taskdist.methods.fisher.fisher_diagonal`.

Both compute, for a batch ``x`` and logit-space vectors ``v_j`` (``(M, B, C)``),
``sum_i sum_j (J_i^T v_ij)^2`` per trainable parameter, with ``J_i`` the
Jacobian of the logits of sample ``i`` with respect to the weights, without a
Python loop over samples:

- :class:`HookEngine` (fast path): forward hooks record each parametrised layer's input
  ``a`` and output; one ``torch.autograd.grad`` per vector gives the per-sample gradients
  ``delta`` of the layer outputs, from which each layer's per-sample parameter gradients
  follow in closed form (the approach of BackPACK and Opacus):

  - ``nn.Linear`` / ``nn.Conv2d`` (any ``groups``, zeros padding): per sample
    ``grad W = delta A`` with ``A`` the input (Linear) or its patches ``unfold(a)``
    (Conv2d), ``P`` output positions; ``grad b = sum over positions of delta``. By a cost
    estimate from the layer's shape (:func:`_use_gram`) either these per-sample gradients
    are formed (in chunks of samples) and squared, or their sum of squares is taken
    without forming any: ``sum_i (sum_p delta_ip A_ip)^2 = sum_i sum_{p,q} (delta_ip
    delta_iq) (A_ip A_iq)``, whose first factor is summed over the vectors before one
    matrix product with the second (cheaper when ``P`` is small against the number of
    vectors, e.g. a ResNet's last stages at 32 px; for ``P = 1`` it is
    ``sum_i delta_i^2 (a_i^2)^T``);
  - ``nn.BatchNorm1d/2d/3d`` in eval mode (running statistics): ``grad gamma = sum over
    positions of delta * xhat`` with ``xhat = (a - running_mean) / sqrt(running_var + eps)``,
    ``grad beta = sum over positions of delta``; ``nn.LayerNorm`` and ``nn.GroupNorm``
    the same with ``xhat`` normalised per sample (as they are by construction).

  A layer output that a later operation changes in place (torchvision's
  ``ReLU(inplace=True)``, ``out += identity``) is handed on as a copy, so the recorded
  output keeps the value the gradient refers to. :class:`Unsupported` names any module the
  hooks do not cover (another module with trainable parameters, a layer called twice per
  forward, BatchNorm on batch statistics, ...).
- :class:`FuncEngine` (any module): ``torch.func.vmap`` over samples of a
  ``torch.func.vjp`` of ``torch.func.functional_call``.

Memory: besides what autograd keeps for the forward, :class:`HookEngine` holds at most
:attr:`HookEngine.HELD` bytes across the vectors of a batch (patches of convolutions, the
summed ``delta`` products) and at most :attr:`HookEngine.CHUNK` bytes of per-sample
gradients or patch products at a time (taken in chunks of samples).

Which vectors ``v`` (the estimator) and how sums become the Fisher diagonal is
:mod:`taskdist.methods.fisher`'s business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FuncEngine", "HookEngine", "Unsupported"]

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_NORMS = (*_BATCHNORMS, nn.LayerNorm, nn.GroupNorm)
_MEMORY_WEIGHT = 4
"""Cost of writing and reading back one float of an intermediate tensor, in multiply-adds (a rough CPU figure:
elementwise passes run at memory speed, matrix products near peak)."""


_GRAM_POSITIONS = 4
"""Most output positions for the sum over pairs of positions: beyond it, gathering the pairs of patches cost more than
the estimate says (measured on CPU: a DenseNet-121 at 32 px, exact estimator, 10.4x a forward+backward with pairs at
16 positions, 9.7x without)."""


class Unsupported(Exception):
    """The model cannot be handled by the hooks engine; use the torch.func engine."""


@dataclass
class _Record:
    act: torch.Tensor  # the layer's input, detached
    act_version: int
    output: torch.Tensor
    output_version: int


class HookEngine:
    """Per-sample squared gradients of Linear / Conv2d / normalisation layers from activations and output grads."""

    HELD = 2**28
    """Bytes held across a batch's vectors beyond autograd's own (cached patches, summed delta products)."""
    CHUNK = 2**26
    """Bytes of per-sample gradients (or patch products) formed at a time."""

    def __init__(self, model: nn.Module):
        self.model = model
        name_of = {id(p): n for n, p in model.named_parameters()}
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        covered: set[int] = set()
        self.names: dict[nn.Module, str] = {}
        self.layers: list[tuple[nn.Module, str | None, str | None]] = []  # (module, weight name, bias name)
        for mod_name, module in model.named_modules():
            own = dict(module.named_parameters(recurse=False))
            if not any(p.requires_grad for p in own.values()):
                continue
            label = f"{mod_name or 'the model'} ({type(module).__name__})"
            why = _not_hookable(module, own)
            if why:
                raise Unsupported(f"{label}: {why}")
            ids = [id(p) for p in own.values() if p.requires_grad]
            if covered.intersection(ids):
                raise Unsupported(f"{label}: a trainable parameter is shared with another module")
            covered.update(ids)
            w, b = own.get("weight"), own.get("bias")
            w_name = name_of[id(w)] if w is not None and w.requires_grad else None
            b_name = name_of[id(b)] if b is not None and b.requires_grad else None
            self.names[module] = label
            self.layers.append((module, w_name, b_name))
        if covered != trainable:
            raise Unsupported("trainable parameters outside the model's modules")
        self.copied: set[nn.Module] = set()  # layers whose output a later operation changes in place
        self.records: dict[nn.Module, list[_Record]] = {}
        self.handles = [m.register_forward_hook(self._hook) for m, _, _ in self.layers]

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
        if len(inputs) != 1 or not isinstance(inputs[0], torch.Tensor) or not isinstance(output, torch.Tensor):
            raise Unsupported(f"{self.names[module]}: not called with one positional tensor input")
        if isinstance(module, _BATCHNORMS) and (module.training or module.running_mean is None):
            raise Unsupported(
                f"{self.names[module]}: normalises with batch statistics (training mode or no running statistics), "
                "so a sample's gradient depends on the other samples"
            )
        act = inputs[0].detach()
        self.records.setdefault(module, []).append(_Record(act, act._version, output, output._version))
        return output.clone() if module in self.copied else None

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.records.clear()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, with every layer's record checked; layers whose output is changed in place are copied from now on
        (the forward is then run again)."""
        for _ in range(2):
            self.records.clear()
            logits = self.model(x)  # (B, C)
            changed = set()
            for module, rec in self.records.items():
                if len(rec) > 1:
                    raise Unsupported(f"{self.names[module]}: called {len(rec)} times in one forward")
                if rec[0].act._version != rec[0].act_version:
                    raise Unsupported(f"{self.names[module]}: its input is changed in place after the call")
                if rec[0].output._version != rec[0].output_version:
                    changed.add(module)
            if not changed:
                return logits
            self.copied |= changed
        raise Unsupported(f"{', '.join(self.names[m] for m in changed)}: output changed in place")

    def squared_grads(
        self, x: torch.Tensor, vectors: Callable[[torch.Tensor], torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        logits = self._forward(x)
        vecs = vectors(logits)  # (M, B, C)
        layers = []
        for module, w, b in self.layers:
            rec = self.records.get(module)
            if rec and rec[0].output.requires_grad:
                layers.append((module, w, b, rec[0].act, rec[0].output))
        self.records.clear()
        out: dict[str, torch.Tensor] = {}
        if not layers or not logits.requires_grad:
            return out
        outputs = [layer[4] for layer in layers]
        budget = [self.HELD]
        squares = [_squares(module, act, w, b, vecs.shape[0], budget, self.CHUNK) for module, w, b, act, _ in layers]
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


def _not_hookable(module: nn.Module, own: dict[str, nn.Parameter]) -> str | None:
    """Why the hooks cannot give ``module``'s per-sample gradients, or None if they can."""
    if type(module) not in (nn.Linear, nn.Conv2d, *_NORMS):
        return "no per-sample rule for this module type"
    if not set(own) <= {"weight", "bias"}:
        return f"parameters {sorted(set(own) - {'weight', 'bias'})} besides weight and bias"
    if type(module) is nn.Conv2d and (module.padding_mode != "zeros" or isinstance(module.padding, str)):
        return f"padding {module.padding!r} with mode {module.padding_mode!r} (numeric zeros padding expected)"
    return None


def _im2col(act: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Patches of a Conv2d input, ``(B, P, in*kh*kw)`` with ``P = H_out*W_out``.

    Same values as ``F.unfold(...).transpose(1, 2)`` (weight order ``in, kh, kw``), built as
    a strided view and one copy, which is several times faster than ``F.unfold`` on CPU.
    """
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = conv.kernel_size, conv.dilation, conv.padding, conv.stride
    padded = F.pad(act, (pw, pw, ph, ph))  # (B, in, H + 2ph, W + 2pw)
    view = padded.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)  # (B, in, Ho, Wo, span_h, span_w)
    view = view[..., ::dh, ::dw]  # (B, in, Ho, Wo, kh, kw)
    batch, _, h_out, w_out = view.shape[:4]
    cols = view.permute(0, 1, 4, 5, 2, 3).reshape(batch, -1, h_out * w_out)  # (B, in*kh*kw, P)
    return cols.transpose(1, 2)  # (B, P, in*kh*kw)


def _use_gram(vectors: int, batch: int, out: int, positions: int, inner: int) -> bool:
    """Whether the sum over pairs of positions (:class:`_AffineSquares`, ``gram``) is estimated cheaper than forming
    the per-sample gradients, for ``vectors`` vectors, ``batch`` samples, ``out`` outputs, ``positions`` output
    positions and ``inner`` weights per output (in multiply-adds, intermediate floats weighted by
    :data:`_MEMORY_WEIGHT`), and ``positions <= _GRAM_POSITIONS``."""
    if positions > _GRAM_POSITIONS:
        return False
    pairs = positions * (positions + 1) // 2
    form = vectors * batch * out * inner * (positions + _MEMORY_WEIGHT)
    gram = vectors * batch * out * positions**2 * _MEMORY_WEIGHT + batch * pairs * inner * (out + _MEMORY_WEIGHT)
    return gram < form


def _squares(
    module: nn.Module, act: torch.Tensor, w: str | None, b: str | None, vectors: int, budget: list[int], chunk: int
) -> _AffineSquares | _NormSquares:
    if isinstance(module, _NORMS):
        return _NormSquares(module, act, w, b)
    return _AffineSquares(module, act, w, b, vectors, budget, chunk)


class _AffineSquares:
    """Batch sum of the squared per-sample gradients of one Linear / Conv2d layer.

    The layer is seen as ``G`` groups (``groups`` of a Conv2d, 1 otherwise) of ``O`` outputs, each a product of
    ``J`` weights with a patch of the input at ``P`` output positions: per sample the weight gradient of group
    ``g`` is ``delta[g] (O, P) @ A[g] (P, J)``. ``add`` takes the per-sample gradient ``delta`` of the layer
    output for one logit-space vector; ``result`` returns the squares summed over the batch and the vectors.
    ``budget`` (a one-item list, shared by a batch's layers) is the number of bytes still free to hold.
    """

    def __init__(
        self,
        module: nn.Module,
        act: torch.Tensor,
        w: str | None,
        b: str | None,
        vectors: int,
        budget: list[int],
        chunk: int,
    ):
        self.module, self.w, self.b, self.act = module, w, b, act
        self.batch = act.shape[0]
        self.conv = isinstance(module, nn.Conv2d)
        self.groups = module.groups if self.conv else 1
        weight = module.weight
        self.outs, self.inner = weight.shape[0] // self.groups, weight[0].numel()  # O, J
        if self.conv:
            h_out, w_out = (
                (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
                for size, pad, dil, k, stride in zip(
                    act.shape[2:], module.padding, module.dilation, module.kernel_size, module.stride, strict=True
                )
            )
            self.positions = h_out * w_out
        else:
            self.positions = act[0].numel() // act.shape[-1]
        item = act.element_size()
        self.gram = False
        self.cols: torch.Tensor | None = None
        self.w_sum: torch.Tensor | None = None
        self.b_sum: torch.Tensor | None = None
        if w is not None:
            pairs = self.positions * (self.positions + 1) // 2
            held = self.batch * weight.shape[0] * self.positions**2 * item  # the summed delta products
            if held <= budget[0] and _use_gram(vectors, self.batch, weight.shape[0], self.positions, self.inner):
                self.gram, budget[0] = True, budget[0] - held
                self.index = torch.triu_indices(self.positions, self.positions, device=act.device)  # (2, pairs)
                self.delta_outer: torch.Tensor | None = None  # (B*G*O, P, P)
                per_sample = self.groups * pairs * self.inner * item  # patch products of a sample
            else:
                cols_bytes = self.batch * self.positions * self.groups * self.inner * item
                if self.conv and vectors > 1 and cols_bytes <= budget[0]:
                    self.cols, budget[0] = self.patches(0, self.batch), budget[0] - cols_bytes
                per_sample = weight.numel() * item + (0 if self.cols is not None else cols_bytes // self.batch)
            self.step = max(1, chunk // max(per_sample, 1))  # samples per chunk

    def patches(self, start: int, stop: int) -> torch.Tensor:
        """``A`` of samples ``start:stop``, ``(b, G, P, J)``."""
        act = self.act[start:stop]
        if self.conv:
            cols = _im2col(act, self.module)  # (b, P, G*J)
        else:
            cols = act.reshape(act.shape[0], -1, act.shape[-1])  # (b, P, J)
        return cols.reshape(cols.shape[0], self.positions, self.groups, self.inner).transpose(1, 2)

    def add(self, delta: torch.Tensor) -> None:
        if self.conv:
            delta = delta.reshape(self.batch, self.groups, self.outs, self.positions)  # (B, G, O, P)
        else:
            delta = delta.reshape(self.batch, self.positions, self.outs).transpose(1, 2).unsqueeze(1)  # (B, 1, O, P)
        if self.b is not None:
            b_sq = delta.sum(3).square().sum(0).reshape(-1)  # (G*O,)
            self.b_sum = b_sq if self.b_sum is None else self.b_sum + b_sq
        if self.w is None:
            return
        if self.gram:  # sum over the vectors of delta_p delta_q: one fused in-place multiply-add each
            flat = delta.reshape(-1, self.positions, 1)  # (B*G*O, P, 1)
            if self.delta_outer is None:
                self.delta_outer = flat.new_zeros(flat.shape[0], self.positions, self.positions)  # (B*G*O, P, P)
            self.delta_outer.addcmul_(flat, flat.transpose(1, 2))
            return
        for start in range(0, self.batch, self.step):
            stop = min(start + self.step, self.batch)
            cols = self.cols[start:stop] if self.cols is not None else self.patches(start, stop)  # (b, G, P, J)
            grads = torch.matmul(delta[start:stop], cols)  # (b, G, O, J)
            w_sq = grads.square_().sum(0)  # (G, O, J)
            self.w_sum = w_sq if self.w_sum is None else self.w_sum.add_(w_sq)

    def result(self) -> dict[str, torch.Tensor]:
        if self.gram and self.delta_outer is not None:
            # sum_i sum_{p<=q} c_pq (delta_ip delta_iq) (A_ip A_iq), c_pq = 2 off the diagonal
            first, second = self.index
            weight = torch.where(first == second, 1.0, 2.0).to(self.act.dtype)  # (pairs,)
            pairs = self.delta_outer[:, first, second]  # (B*G*O, pairs)
            pairs = pairs.reshape(self.batch, self.groups, self.outs, -1)  # (B, G, O, pairs)
            for start in range(0, self.batch, self.step):
                stop = min(start + self.step, self.batch)
                cols = self.patches(start, stop)  # (b, G, P, J)
                if self.positions == 1:
                    cols_pairs = cols.square()  # (b, G, 1, J)
                else:
                    cols_pairs = cols[:, :, first] * cols[:, :, second] * weight[:, None]  # (b, G, pairs, J)
                d = pairs[start:stop].permute(1, 2, 0, 3).flatten(2)  # (G, O, b*pairs)
                c = cols_pairs.transpose(0, 1).flatten(1, 2)  # (G, b*pairs, J)
                w_sq = torch.bmm(d, c)  # (G, O, J)
                self.w_sum = w_sq if self.w_sum is None else self.w_sum.add_(w_sq)
        out: dict[str, torch.Tensor] = {}
        if self.w is not None and self.w_sum is not None:
            out[self.w] = self.w_sum.reshape(self.module.weight.shape)
        if self.b is not None and self.b_sum is not None:
            out[self.b] = self.b_sum
        return out


class _NormSquares:
    """Batch sum of the squared per-sample gradients of the affine part ``gamma * xhat + beta`` of a normalisation
    layer: ``grad gamma = sum over positions of delta * xhat``, ``grad beta = sum over positions of delta``.

    ``xhat`` uses the running statistics for BatchNorm (eval mode; checked by the forward hook) and each sample's own
    statistics for LayerNorm and GroupNorm; it is recomputed for each vector rather than held.
    """

    def __init__(self, module: nn.Module, act: torch.Tensor, w: str | None, b: str | None):
        self.module, self.act, self.w, self.b = module, act, w, b
        self.batch = act.shape[0]
        if isinstance(module, nn.LayerNorm):
            self.lead = act.dim() - len(module.normalized_shape)  # batch and position axes, summed over
        else:
            self.lead = 2  # (B, C, ...): channels kept, positions summed over
        self.w_sum: torch.Tensor | None = None
        self.b_sum: torch.Tensor | None = None

    def xhat(self) -> torch.Tensor:
        m, a = self.module, self.act
        if isinstance(m, nn.LayerNorm):
            return F.layer_norm(a, m.normalized_shape, eps=m.eps)
        if isinstance(m, nn.GroupNorm):
            return F.group_norm(a, m.num_groups, eps=m.eps)
        shape = (1, -1) + (1,) * (a.dim() - 2)
        return (a - m.running_mean.reshape(shape)) * torch.rsqrt(m.running_var.reshape(shape) + m.eps)

    def _per_sample(self, t: torch.Tensor) -> torch.Tensor:
        """Sum over the position axes: ``(B, *parameter shape)``."""
        if isinstance(self.module, nn.LayerNorm):
            return t.reshape(self.batch, -1, *self.module.normalized_shape).sum(1)
        return t.reshape(self.batch, t.shape[1], -1).sum(2)

    def add(self, delta: torch.Tensor) -> None:
        if self.w is not None:
            w_sq = self._per_sample(delta * self.xhat()).square().sum(0)
            self.w_sum = w_sq if self.w_sum is None else self.w_sum + w_sq
        if self.b is not None:
            b_sq = self._per_sample(delta).square().sum(0)
            self.b_sum = b_sq if self.b_sum is None else self.b_sum + b_sq

    def result(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.w is not None and self.w_sum is not None:
            out[self.w] = self.w_sum
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
