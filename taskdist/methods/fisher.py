"""Diagonal Fisher Information of a classifier, per sample, with three estimators.

The Fisher Information Matrix (FIM) of a classifier ``p_w(y | x) = softmax(f_w(x))_y``
over inputs ``x_1 .. x_N`` is

.. math::

    F = \\frac{1}{N} \\sum_{i=1}^{N} \\mathbb{E}_{y}\\left[ g_i(y)\\, g_i(y)^\\top \\right],
    \\qquad g_i(y) = \\nabla_w \\log p_w(y \\mid x_i),

and :func:`fisher_diagonal` returns its diagonal, i.e. the *per-sample* average of the
elementwise squared gradients (never the square of a batch-mean gradient).

How it is computed
------------------
Write ``z_i = f_w(x_i)`` (logits, ``C`` classes), ``p_i = softmax(z_i)`` and ``J_i = dz_i/dw``.
Since ``d log p(y|x) / dz = e_y - p``, every estimator is a sum of squared
vector-Jacobian products ``(J_i^T v)^2`` over a small set of logit-space vectors ``v``:

- ``empirical``: one vector, ``v = e_{y_i} - p_i`` with the true label ``y_i``;
- ``mc``: ``k`` vectors ``v_j = (e_{y_ij} - p_i) / sqrt(k)`` with sampled labels ``y_ij``
  or, when ``k >= C``, the ``C`` vectors ``sqrt(n_ic / k) (e_c - p_i)`` with ``n_ic`` the
  number of draws of class ``c`` (same sum, bounded cost);
- ``exact``: the ``C`` columns of ``S_i = diag(sqrt p_i) - p_i sqrt(p_i)^T``, i.e.
  ``v_c = sqrt(p_ic) (e_c - p_i)``, because ``sum_c p_c (e_c - p)(e_c - p)^T = diag(p) - p p^T
  = S S^T`` (the Fisher of softmax cross-entropy equals its generalised Gauss-Newton).

Two engines (:mod:`taskdist.methods.persample`) evaluate the squared per-sample vector-Jacobian
products, vectorised over the batch (no Python loop over samples):

- ``hooks`` (fast path), used when every trainable parameter is the ``weight`` or ``bias``
  of an ``nn.Linear``, an ``nn.Conv2d`` (zeros padding, any ``groups``), a BatchNorm in eval mode
  (running statistics), an ``nn.LayerNorm`` or an ``nn.GroupNorm``, each called once per forward
  (any other module, e.g. ReLU, pooling, may appear between them; outputs changed in place
  afterwards, as in torchvision's models, are handed on as copies). Forward hooks record each
  layer's input ``a``; one ``torch.autograd.grad`` per vector ``v`` gives the per-sample
  gradients ``delta`` of the layer outputs; then per sample ``grad W = delta a^T`` (Linear) or
  ``delta unfold(a)^T`` (Conv2d), ``grad b = sum over positions of delta``, ``grad gamma = sum
  over positions of delta * xhat`` (normalisations), squared and summed over the batch. For a
  layer with few output positions the sum of squares is taken without forming any per-sample
  gradient, from products over pairs of positions (for 2-D Linear input:
  ``sum_i delta_i^2 (a_i^2)^T``). This is the approach of BackPACK and Opacus; every
  torchvision architecture the README lists takes it. When a model has a module it does not
  cover, the job log says which (a warning) and the ``func`` engine computes the whole model.
- ``func`` (generic fallback for any module), ``torch.func.vmap`` over samples of a
  ``torch.func.vjp`` of ``torch.func.functional_call``; it materialises the per-sample
  gradients of all trainable parameters for a batch.

Sampling in the ``mc`` estimator (reproducible, so tests can replicate it)
-------------------------------------------------------------------------
``u = torch.rand((N, mc_samples), generator=torch.Generator().manual_seed(seed),
dtype=torch.float64)`` is drawn once for the whole input, in input order, before any
batching; with ``cdf_i = cumsum(softmax(z_i.double()))``, the draws are
``y_ij = min(#{c : cdf_ic <= u_ij}, C - 1)`` (``torch.searchsorted(cdf, u, right=True)``),
i.e. inverse-CDF sampling from ``p_w(. | x_i)``. The labels therefore do not depend on
``batch_size`` (up to float rounding of the logits).
"""

from __future__ import annotations

import copy
import functools
import logging

import torch
import torch.nn.functional as F
from torch import nn

from taskdist.checks import check_choice, check_int
from taskdist.methods.persample import FuncEngine, HookEngine, Unsupported
from taskdist.progress import Progress

VERSION = 3
"""Version of the per-pair Fisher computation (head refit + FIM); raised whenever its results change.

3: the per-pair table carries its format and names (:mod:`taskdist.artifacts.vectors`); the head is fitted by
Newton's method (:mod:`taskdist.nets.linear`: the same minimiser, to the gradient tolerance)."""

ESTIMATORS = ("empirical", "mc", "exact")
GRANULARITIES = ("parameter", "filter")

__all__ = ["ESTIMATORS", "GRANULARITIES", "fisher_diagonal"]

_ENGINES = ("auto", "hooks", "func")

log = logging.getLogger(__name__)


def fisher_diagonal(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    estimator: str,
    granularity: str = "parameter",
    batch_size: int = 128,
    seed: int = 0,
    mc_samples: int = 1,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Diagonal of the Fisher Information Matrix of a classifier, averaged per sample.

    .. math::

        F = \\frac{1}{N} \\sum_{i=1}^{N} \\mathbb{E}_{y}\\left[ g_i(y)^{2} \\right],
        \\qquad g_i(y) = \\nabla_w \\log p_w(y \\mid x_i),

    squared elementwise, with ``p_w(y | x) = softmax(model(x))_y``. The expectation over
    ``y`` depends on ``estimator``:

    - ``"empirical"``: ``y = labels[i]`` (the empirical Fisher, Kunstner et al. 2019);
    - ``"mc"``: ``(1/k) sum_j g_i(y_ij)^2`` with ``k = mc_samples`` labels ``y_ij`` drawn
      from ``p_w(. | x_i)`` (see *Notes* for the exact sampling scheme);
    - ``"exact"``: ``sum_y p_w(y | x_i) g_i(y)^2`` over all classes (the true Fisher,
      Amari 1998).

    Parameters
    ----------
    model
        Classifier mapping a batch ``(B, ...)`` to logits ``(B, C)``. The Fisher is taken
        for every parameter with ``requires_grad=True``; gradients still flow through
        frozen parameters, so freezing the head gives the Fisher of the body. The model is
        put in eval mode during the computation and every submodule's mode is restored
        afterwards; no parameter and no ``.grad`` of the model is modified.
    images
        Inputs, floating point tensor of shape ``(N, ...)``.
    labels
        Integer class labels of shape ``(N,)`` in ``[0, C)``. Used by ``"empirical"`` only,
        but validated for every estimator.
    estimator
        One of :data:`ESTIMATORS`: ``"empirical"``, ``"mc"`` or ``"exact"``; no default (the workflow passes
        the config's ``fisher.estimator``).
    granularity
        One of :data:`GRANULARITIES`. ``"parameter"``: one value per parameter entry,
        tensors of the parameter's shape. ``"filter"``: one value per output filter/unit,
        the mean of the parameter-level diagonal over all axes but the first (a conv weight
        ``(out, in, k, k)`` gives ``(out,)``; a bias ``(out,)`` stays ``(out,)``; a scalar
        parameter gives ``(1,)``), as in Task2Vec (Achille et al. 2019).
    batch_size
        Samples per vectorised pass, ``>= 1``. The result does not depend on it (up to
        float rounding).
    seed
        Seed of the ``torch.Generator`` drawing the ``"mc"`` labels.
    mc_samples
        Number of labels drawn per sample by ``"mc"``, ``>= 1``.
    device
        Device of the computation. If the model is elsewhere, a copy of it is moved there
        (the model itself is not moved).

    Returns
    -------
    dict of str to torch.Tensor
        Parameter name (as in ``model.named_parameters()``) to its Fisher diagonal, float32
        on CPU (accumulated in float64 across batches).

    Raises
    ------
    TypeError
        If ``model``, ``images`` or ``labels`` is not of the expected type, or ``images`` is
        not floating point or ``labels`` not integer.
    ValueError
        For an unknown ``estimator`` or ``granularity``, ``batch_size`` or ``mc_samples``
        below 1, empty input, ``images`` and ``labels`` of different lengths, labels outside
        ``[0, C)``, logits not of shape ``(B, C)``, or a model without trainable parameters.

    Notes
    -----
    All three estimators are sums of squared per-sample vector-Jacobian products
    ``(J_i^T v)^2`` with ``J_i = d model(x_i) / dw`` and logit-space vectors ``v``:
    ``e_y - p_i`` (empirical), ``(e_{y_ij} - p_i) / sqrt(k)`` (mc), and the ``C`` columns
    ``sqrt(p_ic) (e_c - p_i)`` of ``S_i = diag(sqrt p_i) - p_i sqrt(p_i)^T``, a square root of
    the logit-space Fisher ``diag(p_i) - p_i p_i^T = S_i S_i^T`` (exact). They are evaluated
    vectorised over the batch either from layer activations and output gradients (Linear,
    Conv2d and normalisation layers; the fast path) or with ``torch.func`` (any module); see the
    module docstring. The backward work of ``"exact"`` is ``C`` times that of ``"empirical"``, of
    ``"mc"`` ``min(mc_samples, C)`` times: with ``mc_samples >= C`` the draws are grouped by
    class, ``sum_j g(y_ij)^2 = sum_c n_ic g(c)^2`` (``n_ic`` = number of draws of ``c``).

    ``"mc"`` sampling, reproducible so that a reference can draw the same labels:
    ``u = torch.rand((N, mc_samples), generator=torch.Generator().manual_seed(seed),
    dtype=torch.float64)`` is drawn once, in input order, then
    ``y_ij = torch.searchsorted(cdf_i, u_ij, right=True)`` clamped to ``C - 1``, with
    ``cdf_i = torch.cumsum(torch.softmax(logits_i.double(), -1), -1)``.

    References
    ----------
    .. [1] S. Amari, "Natural gradient works efficiently in learning", Neural Computation
       10(2), 1998.
    .. [2] F. Kunstner, L. Balles, P. Hennig, "Limitations of the empirical Fisher
       approximation for natural gradient descent", NeurIPS 2019.
    .. [3] A. Achille, M. Lam, R. Tewari, A. Ravichandran, S. Maji, C. Fowlkes, S. Soatto,
       P. Perona, "Task2Vec: Task embedding for meta-learning", ICCV 2019.
    .. [4] C. P. Le, M. Soltani, J. Dong, V. Tarokh, "Fisher task distance and its
       application in neural architecture search", IEEE Access 10, 2022 (arXiv 2021).
    .. [5] F. Dangel, F. Kunstner, P. Hennig, "BackPACK: Packing more into backprop",
       ICLR 2020.

    Examples
    --------
    >>> fim = fisher_diagonal(net, x, y, estimator="exact", granularity="filter")
    >>> vec = taskdist.artifacts.vectors.flat(fim)  # one float64 vector, parameters in sorted order
    """
    return _fisher_diagonal(
        model,
        images,
        labels,
        estimator=estimator,
        granularity=granularity,
        batch_size=batch_size,
        seed=seed,
        mc_samples=mc_samples,
        device=device,
        engine="auto",
    )


# ---------------------------------------------------------------------------------------
# driver


def _fisher_diagonal(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    estimator: str,
    granularity: str,
    batch_size: int,
    seed: int,
    mc_samples: int,
    device: torch.device | str,
    engine: str,
) -> dict[str, torch.Tensor]:
    """:func:`fisher_diagonal` with a choice of engine (``auto``, ``hooks``, ``func``)."""
    _validate(model, images, labels, estimator, granularity, batch_size, mc_samples, seed, engine)
    device = torch.device(device)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise ValueError("model has no parameter with requires_grad=True: nothing to compute the Fisher of")

    modes = {m: m.training for m in model.modules()}
    try:
        work = model if _is_on(model, device) else copy.deepcopy(model).to(device)
        work.eval()
        run = functools.partial(_run, work, images, labels, estimator, batch_size, seed, mc_samples, device)
        with torch.enable_grad():
            if engine == "func":
                sums = run(FuncEngine)
            else:
                try:
                    sums = run(HookEngine)
                except Unsupported as e:
                    if engine == "hooks":
                        raise
                    log.warning("fisher: FuncEngine (torch.func, much slower) for this model, as the hook engine "
                                "does not cover %s", e)
                    sums = run(FuncEngine)
    finally:
        for m, mode in modes.items():
            m.train(mode)

    n = images.shape[0]
    out: dict[str, torch.Tensor] = {}
    for name in names:
        diag = (sums[name] / n).to(torch.float32)  # parameter shape
        if granularity == "filter":
            diag = diag.reshape(diag.shape[0] if diag.dim() else 1, -1).mean(dim=1)  # (out,)
        out[name] = diag
    return out


def _validate(
    model: object,
    images: object,
    labels: object,
    estimator: object,
    granularity: object,
    batch_size: object,
    mc_samples: object,
    seed: object,
    engine: object,
) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("granularity", granularity, GRANULARITIES)
    check_choice("engine", engine, _ENGINES)
    check_int("batch_size", batch_size, minimum=1)
    check_int("mc_samples", mc_samples, minimum=1)
    check_int("seed", seed, minimum=None)
    if not images.is_floating_point():
        raise TypeError(f"images must be a floating point tensor, got dtype {images.dtype}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if images.dim() < 1 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty batch (N, ...), got shape {tuple(images.shape)}")
    if labels.dim() != 1:
        raise ValueError(f"labels must have shape (N,), got shape {tuple(labels.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"images and labels must have the same length, got {images.shape[0]} images "
            f"and {labels.shape[0]} labels"
        )
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0, got minimum label {int(labels.min())}")


def _is_on(model: nn.Module, device: torch.device) -> bool:
    """Whether every parameter and buffer of ``model`` already lives on ``device``."""
    return all(
        t.device.type == device.type and (device.index is None or t.device.index == device.index)
        for t in (*model.parameters(), *model.buffers())
    )


def _run(
    work: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    estimator: str,
    batch_size: int,
    seed: int,
    mc_samples: int,
    device: torch.device,
    engine_cls: type[HookEngine | FuncEngine],
) -> dict[str, torch.Tensor]:
    """Sum over all samples of the squared per-sample VJPs (float64, on CPU)."""
    n = images.shape[0]
    uniforms = None
    if estimator == "mc":
        gen = torch.Generator().manual_seed(seed)
        uniforms = torch.rand((n, mc_samples), generator=gen, dtype=torch.float64)  # (N, k)
    engine = engine_cls(work)
    sums: dict[str, torch.Tensor] = {}
    progress = Progress("fisher", n, "samples", logger=log)
    try:
        for start in range(0, n, batch_size):
            x = images[start : start + batch_size].to(device)  # (B, ...)
            y = labels[start : start + batch_size].to(device, torch.long)  # (B,)
            u = None if uniforms is None else uniforms[start : start + batch_size].to(device)  # (B, k)
            make_vectors = functools.partial(
                _logit_vectors, y=y, estimator=estimator, u=u, labels=labels if start == 0 else None
            )
            batch = engine.squared_grads(x, make_vectors)
            for name, value in batch.items():
                value = value.detach().to("cpu", torch.float64)  # parameter shape
                sums[name] = sums[name] + value if name in sums else value
            progress.advance(len(y))
    finally:
        engine.close()
    progress.end()
    for name, p in work.named_parameters():
        if p.requires_grad and name not in sums:  # never reached the output
            sums[name] = torch.zeros(p.shape, dtype=torch.float64)
    return sums


def _check_logits(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.dim() != 2:
        raise ValueError(f"model must return logits of shape (B, C), got shape {tuple(logits.shape)}")
    n_classes = logits.shape[1]
    top = int(labels.max())
    if top >= n_classes:
        raise ValueError(f"labels must be in [0, {n_classes}) for a model with {n_classes} logits, got {top}")


def _class_vectors(p: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``v_c = sqrt(w_c) (e_c - p)`` for every class ``c``: ``sum_c (J^T v_c)^2 = sum_c w_c g(c)^2``.

    With ``weights = p`` these are the columns of ``S = diag(sqrt p) - p sqrt(p)^T``.
    """
    eye = torch.eye(p.shape[1], dtype=p.dtype, device=p.device)  # (C, C)
    return weights.sqrt().T.unsqueeze(-1) * (eye.unsqueeze(1) - p.unsqueeze(0))  # (C, B, C)


def _logit_vectors(
    logits: torch.Tensor,
    *,
    y: torch.Tensor,
    estimator: str,
    u: torch.Tensor | None,
    labels: torch.Tensor | None,
) -> torch.Tensor:
    """Logit-space vectors ``v`` whose squared VJPs sum to the estimator's ``E_y[g^2]``.

    ``labels`` (all labels, passed with the first batch only) are checked against the logits.
    """
    if labels is not None:
        _check_logits(logits, labels)
    logits = logits.detach()  # (B, C)
    p = torch.softmax(logits.double(), dim=-1)  # (B, C)
    n_classes = p.shape[1]
    if estimator == "empirical":
        vec = F.one_hot(y, n_classes).double() - p  # (B, C)
        vec = vec.unsqueeze(0)  # (1, B, C)
    elif estimator == "mc":
        if u is None:
            raise ValueError("estimator 'mc' needs the uniforms of its label draws (u), got none")
        cdf = torch.cumsum(p, dim=-1)  # (B, C)
        draws = torch.searchsorted(cdf, u.contiguous(), right=True).clamp_(max=n_classes - 1)  # (B, k)
        k = draws.shape[1]
        if k < n_classes:
            vec = (F.one_hot(draws, n_classes).double() - p.unsqueeze(1)) / k**0.5  # (B, k, C)
            vec = vec.transpose(0, 1)  # (k, B, C)
        else:  # sum_j g(y_j)^2 = sum_c n_c g(c)^2: at most C vectors whatever k
            freq = F.one_hot(draws, n_classes).sum(dim=1).double() / k  # (B, C)
            vec = _class_vectors(p, freq)  # (C, B, C)
    elif estimator == "exact":
        vec = _class_vectors(p, p)  # (C, B, C)
    else:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    return vec.to(logits.dtype)
