r"""Task2Vec: a task as the Fisher Information of a fixed probe network (Achille et al., ICCV 2019).

One *probe* network is shared by all tasks. For a task ``(x_i, y_i)``:

1. a copy of the probe gets a fresh linear head for the task's classes; only the head is fitted
   (Adam, lr 4e-4, weight decay 1e-4, 10 epochs, as in the paper), the body is frozen;
2. the diagonal Fisher Information of the weights of the *body* (the classifier excluded) is
   estimated and averaged over each filter (one value per output channel of a convolution,
   per output unit of a linear layer). These per-filter values, concatenated over layers, are
   the task's embedding.

Two estimators of step 2:

- ``"mc"``: the Fisher ``F = E_x E_{y ~ p_w(y|x)}[(grad_w log p_w(y|x))^2]`` with labels
  sampled from the model, per sample (:func:`taskdist.methods.fisher.fisher_diagonal`, ``estimator="mc"``);
- ``"variational"`` (the paper's "robust Fisher"): a Gaussian perturbation ``w ~ N(ŵ, Λ)`` of the
  body's weights, one variance per filter, is learnt by minimising

  .. math::

      L(Λ) = \mathbb{E}_{w \sim N(\hat w, Λ)}\bigl[H_{p_w, \hat p}(y \mid x)\bigr]
             + β\, \mathrm{KL}\bigl(N(\hat w, Λ) \,\|\, N(0, λ^2 I)\bigr),

  and "the Fisher is approximated by the inverse of the variance": the embedding is ``1/σ²`` per
  filter. For a quadratic loss the optimum is ``1/σ² = F/β + 1/λ²`` (see :func:`embed`).

Distances (paper §3.2; :func:`taskdist.methods.distances.symmetric_distance`,
:func:`taskdist.methods.distances.asymmetric_distance`): the symmetric one is the cosine distance of the
embeddings normalised by their sum, ``d_sym(a, b) = d_cos(F_a/(F_a+F_b), F_b/(F_a+F_b))``; the
asymmetric one, ``d_asym(a -> b) = d_sym(a, b) - α d_sym(a, t_0)`` "where t_0 is the trivial
embedding" (:func:`trivial_embedding`), brings complex source tasks closer to every target.

Where the rest lives: the probe network in :mod:`taskdist.methods.probes`, the embeddings' files in
:mod:`taskdist.artifacts.vectors`, the distances in :mod:`taskdist.methods.distances`.

References
----------
.. [1] A. Achille, M. Lam, R. Tewari, A. Ravichandran, S. Maji, C. Fowlkes, S. Soatto, P. Perona,
   "Task2Vec: Task embedding for meta-learning", ICCV 2019 (arXiv:1902.03545).
.. [2] D. P. Kingma, T. Salimans, M. Welling, "Variational dropout and the local
   reparameterization trick", NeurIPS 2015.
.. [3] Reference implementation: github.com/awslabs/aws-cv-task2vec (``task2vec.py``,
   ``variational.py``, ``task_similarity.py``).
"""

from __future__ import annotations

import copy
import functools
import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from taskdist.checks import check_choice, check_int, check_positive
from taskdist.data import tasks
from taskdist.methods import fisher
from taskdist.nets import train
from taskdist.nets.models import features
from taskdist.nets.optim import Adam
from taskdist.progress import Progress
from taskdist.seeds import stable_seed

VERSION = 2
"""Version of the Task2Vec embeddings and distances; raised whenever their results change.

2: embeddings and matrices carry their format and names (:mod:`taskdist.artifacts.vectors`,
:mod:`taskdist.artifacts.matrices`).
"""

log = logging.getLogger(__name__)

FISHER_KINDS = ("mc", "variational")  # "mc" as fisher.ESTIMATORS names it
DEFAULT_VARIATIONAL_EPOCHS = 20
DEFAULT_VARIATIONAL_LR = 0.1
INIT_VARIANCE_SCALE = 0.05  # initial σ² of a filter = 0.05 * variance of its weights, as in the reference code
_MIN_STD_VARIANCE = 1e-30  # pre-activation variances below this get no noise and no gradient (avoids sqrt'(0))
TRIVIAL = "_trivial"
"""The name (``task``) of the trivial embedding's file, ``results/task2vec/_trivial.parquet``."""

__all__ = ["FISHER_KINDS", "TRIVIAL", "embed", "trivial_embedding"]


def embed(
    probe: nn.Module,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    n_classes: int,
    *,
    estimator: str,
    head_epochs: int,
    head_lr: float,
    batch_size: int,
    samples: int | None,
    beta: float,
    seed: int,
    head_weight_decay: float = 1e-4,
    mc_samples: int = 1,
    variational_epochs: int = DEFAULT_VARIATIONAL_EPOCHS,
    variational_lr: float = DEFAULT_VARIATIONAL_LR,
    prior_std: float | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    r"""Task2Vec embedding of the task ``(images, labels)``: per-filter Fisher of the probe's body.

    Steps (Achille et al. 2019, §2-3):

    1. A copy of ``probe`` gets a new head ``nn.Linear(in_features, n_classes)`` initialised to
       zero; the body is frozen (eval mode) and only the head is fitted on all of
       ``(images, labels)`` with :func:`taskdist.nets.train.fit` (Adam, cross-entropy, ``head_lr``,
       ``head_weight_decay``, ``head_epochs``) on the body's features computed once.
    2. On at most ``samples`` of the examples (all if None), the filter-level Fisher of the
       weights of every ``nn.Conv2d`` and ``nn.Linear`` module of ``probe.body`` (biases,
       normalisation layers and the head excluded, as in the reference implementation):

       - ``"mc"``: :func:`taskdist.methods.fisher.fisher_diagonal` with ``estimator="mc"``,
         ``granularity="filter"``: ``F_f = mean_{w in f} (1/N) sum_i E_{y ~ p_w(.|x_i)}
         [(d log p_w(y|x_i) / dw)^2]``, ``mc_samples`` labels per example;
       - ``"variational"``: one log-variance ``s_f = log σ_f²`` per filter ``f``; minimise over
         the ``s_f`` only, with Adam for ``variational_epochs`` epochs over the examples, the
         learning rate decaying linearly from ``variational_lr`` to 0,

         .. math::

             L(s) = \frac{1}{B}\sum_{i \in \text{batch}} \mathrm{CE}\bigl(f_{w}(x_i), y_i\bigr)
                    + β \sum_f \frac{n_f}{2}\Bigl(\frac{σ_f^2}{λ_l^2} - 1 - \log\frac{σ_f^2}{λ_l^2}\Bigr),
             \qquad w \sim N(\hat w, \mathrm{diag}(σ^2)),

         the second term being ``β KL(N(ŵ, Λ) || N(0, λ² I))`` without its ``ŵ²/λ²`` part
         (constant in ``σ``; ``n_f`` = weights in filter ``f``, ``λ_l`` the prior scale of its
         layer). The expectation uses the local reparameterisation trick (Kingma et al. 2015):
         instead of sampling weights, each Conv2d/Linear output is sampled per example,
         ``z = layer(a; ŵ) + sqrt(layer(a²; σ²)) ⊙ ε`` with ``ε ~ N(0, 1)`` (no bias in the
         variance term). The embedding is ``1/σ_f²``: for a loss locally quadratic with
         Fisher ``F`` the optimum is

         .. math::  1/σ_f^2 = F_f / β + 1/λ_l^2,

         so the "robust" Fisher is the Fisher on the scale ``1/β`` plus the prior's precision.
         σ² starts at ``0.05 ×`` the variance of the filter's weights (as in the reference code),
         clipped to ``[1e-6 λ², λ²]``.

    The options the config sets (``task2vec:`` ``estimator``, ``head``, ``samples``, ``beta``) and ``seed``
    have no default here: the workflow passes the config's values (:func:`taskdist.stages.task2vec_embedding`),
    so the schema holds the only defaults. The others are the method's own constants.

    Parameters
    ----------
    probe
        A module with a ``body`` (feature extractor, ``(B, ...) -> (B, D)``) and a ``head``
        (``nn.Linear(D, ·)``), e.g. a :class:`~taskdist.nets.models.TaskNet` or a
        :class:`~taskdist.methods.probes.TorchvisionProbe`. It is not modified.
    images
        Floating point ``(N, C, H, W)`` (tensor or array).
    labels
        Integer labels ``(N,)`` in ``[0, n_classes)``.
    n_classes
        Number of classes of the task, ``>= 2``.
    estimator
        ``"mc"`` or ``"variational"`` (:data:`FISHER_KINDS`).
    head_epochs, head_lr, head_weight_decay
        Head fit; the paper's values are 10 epochs, Adam lr ``4e-4``, weight decay ``1e-4``.
    batch_size
        Mini-batch size of the head fit, the Fisher passes and the variational optimisation.
    mc_samples
        Labels drawn per example by ``"mc"``.
    samples
        Examples used for the Fisher (a seeded subset); None: all.
    variational_epochs, variational_lr
        Epochs over the Fisher examples and initial Adam learning rate of ``"variational"``
        (decayed linearly to 0). The reference code runs about 160 steps at a constant ``1e-2``,
        which moves a log-variance by at most 1.6 from its start; the defaults (20 epochs, 0.1)
        let the log-variances reach their optimum a few units away (lr 0.05 stops short of it,
        0.3 leaves more noise), and the decay damps the step-to-step noise of the estimate.
    beta
        Weight ``β`` of the KL term (paper: ``1e-7``). At the optimum the perturbation raises
        the loss by about ``β n / 2`` for ``n`` weights: ~1 nat for the paper's ResNet-34
        (``n ≈ 2.1e7``), but only ~5e-4 for a probe of 1e4 weights, whose estimate is then buried
        in mini-batch noise. For a small probe take ``β ≈ 1/n`` to ``0.1/n`` (e.g. ``1e-5`` to ``1e-4``
        for ~1e4 weights).
    prior_std
        ``λ``, the standard deviation of the prior ``N(0, λ² I)``; None (default): per layer,
        ``λ_l² = mean(ŵ²)`` over the layer's weights, the minimiser of the KL in ``λ²`` when
        ``σ² << ŵ²`` (the reference code learns one ``λ²`` per layer starting from this value).
    seed
        Seeds the head fit's batch order, the subset, the Monte-Carlo labels and the
        variational noise. The global RNG is not used.
    device
        Where to compute; the probe is copied there.

    Returns
    -------
    dict of str to numpy.ndarray
        Body layer name (module name inside ``probe.body``, e.g. ``"features.0"``, ``"fc"``,
        ``"layer1.0.conv1"``) to a float64 vector with one value per filter, keys in sorted
        order (the order of :func:`taskdist.artifacts.vectors.flat` and :func:`taskdist.artifacts.vectors.table`).

    Raises
    ------
    ValueError
        For an unknown ``estimator``, ``n_classes < 2``, empty data, ``images`` and ``labels``
        of different lengths, labels outside ``[0, n_classes)``, a non-positive
        hyper-parameter, or a body without Conv2d/Linear layers.
    TypeError
        If ``probe`` has no ``body`` module or its ``head`` is not an ``nn.Linear``.

    Notes
    -----
    The head starts at zero, not at random: fitting it is a convex problem (multinomial
    logistic regression on fixed features), and from zero the Adam trajectory, hence the
    embedding, is exactly equivariant to relabelling the classes, which is the invariance the
    embedding claims ("independent of details such as the number of classes" and of the label
    semantics). The Monte-Carlo labels are drawn by inverse CDF in class order, so a relabelled
    task gets the same embedding in distribution but other draws; the variational noise does not
    depend on the labels, so there a relabelled task gets the same embedding up to float rounding.

    The variational estimate is a robust, not a local, curvature: a filter whose perturbation
    *lowers* the loss on average (e.g. noise through ReLUs inflating the features of an
    under-confident head, which the paper's head fit of 10 epochs at lr ``4e-4`` from zero can
    leave) gets ``σ² > λ²``, an embedding below the trivial one ``1/λ²``. On a linear body the
    estimate equals the closed form ``F/β + 1/λ²`` within a few percent (tests). On a 9.4k-weight
    conv probe on 16x16 digits it matches it in the median, and its Spearman correlation with
    the Monte-Carlo Fisher per filter is 0.4 with the paper's head fit and 0.6-0.7 with a 10x
    larger head learning rate (``β = 1e-5``); two seeds (other subset, draws and noise) then
    differ by ``d_sym`` ≈ 0.06-0.1, against ≈ 0.04 for the Monte-Carlo estimator.

    References
    ----------
    .. [1] Achille et al., "Task2Vec: Task embedding for meta-learning", ICCV 2019.
    .. [2] Kingma, Salimans, Welling, "Variational dropout and the local reparameterization
       trick", NeurIPS 2015.
    """
    images, labels = _check_task(probe, images, labels, n_classes)
    check_choice("estimator", estimator, FISHER_KINDS)
    for name, value in (("head_epochs", head_epochs), ("batch_size", batch_size), ("mc_samples", mc_samples),
                        ("variational_epochs", variational_epochs)):
        check_int(name, value, minimum=1)
    if samples is not None:
        check_int("samples", samples, minimum=1)
    check_int("seed", seed, minimum=None)
    for name, value in (("head_lr", head_lr), ("variational_lr", variational_lr), ("beta", beta)):
        check_positive(name, value)
    check_positive("head_weight_decay", head_weight_decay, allow_zero=True)
    if prior_std is not None:
        check_positive("prior_std", prior_std)
    device = torch.device(device)

    net = _with_zero_head(probe, n_classes).to(device)
    net.requires_grad_(False)
    net.eval()
    layers = _body_layers(net.body)
    prior_var = _prior_variances(layers, prior_std)

    # 1. the head, on the body's features (computed once)
    feats = features(net.body, images)  # (N, D)
    net.head.requires_grad_(True)
    history = train.fit(
        net.head, feats, labels, epochs=head_epochs, batch_size=batch_size, lr=head_lr,
        weight_decay=head_weight_decay, seed=stable_seed(seed, "task2vec-head"), name="task2vec head",
    )
    net.head.requires_grad_(False)
    net.eval()
    log.info("task2vec head: train accuracy %.4f after %d epochs", history[-1]["train_accuracy"], head_epochs)

    # 2. the Fisher of the body on (a subset of) the examples
    keep = torch.from_numpy(tasks.subsample(len(labels), samples or len(labels), stable_seed(seed, "task2vec-samples")))
    x, y = images[keep], labels[keep]
    if estimator == "mc":
        for module in layers.values():
            module.weight.requires_grad_(True)
        diag = fisher.fisher_diagonal(
            net, x, y, estimator="mc", granularity="filter", batch_size=batch_size,
            seed=stable_seed(seed, "task2vec-mc"), mc_samples=mc_samples, device=device,
        )
        out = {name: diag[f"body.{name}.weight"].to(torch.float64).numpy() for name in layers}
    else:
        out = _variational_precision(
            net, layers, prior_var, x, y, epochs=variational_epochs, lr=variational_lr, batch_size=batch_size,
            beta=beta, seed=seed, device=device,
        )
    return dict(sorted(out.items()))


def trivial_embedding(
    probe: nn.Module, *, estimator: str, beta: float, prior_std: float | None = None
) -> dict[str, np.ndarray]:
    r"""Embedding of the trivial task ``t_0`` used by :func:`taskdist.methods.distances.asymmetric_distance`.

    The paper defines ``d_asym(t_a -> t_b) = d_sym(t_a, t_b) - α d_sym(t_a, t_0)`` "where t_0 is
    the trivial embedding" (§3.2), the embedding of a task that carries no information. We take
    it literally: for labels independent of the images, the weight-decayed head converges to
    zero weights, ``p_w(y|x)`` stops depending on ``w`` and the Fisher is ``F = 0``. The
    variational objective is then ``β KL(N(ŵ, Λ) || N(0, λ²I))`` alone, minimised by the
    prior's variance ``σ² = λ²``, so the trivial variational embedding is

    .. math::  t_0 = 1/λ_l^2 \quad \text{for every filter of layer } l,

    exactly the floor of :func:`embed`'s ``1/σ² = F/β + 1/λ²``. This is what the reference
    implementation does (``get_trivial_embedding_from`` sets every filter's log-variance to its
    layer's ``log λ²``). For ``"mc"``, whose embedding ``F`` has no prior term, ``F = 0``
    would make the cosine undefined; the same prior on the Fisher's scale (``β/σ² = F + β/λ²``)
    gives ``t_0 = β/λ_l²``.

    It depends only on the probe, ``β`` and ``λ``, not on any task: the workflow computes it once
    per experiment.

    Parameters
    ----------
    probe
        The probe (with ``body``), the same module given to :func:`embed`.
    estimator
        The estimator of the embeddings it will be compared with.
    beta, prior_std
        As in :func:`embed` (None: ``λ_l² = mean(ŵ²)`` per layer).

    Returns
    -------
    dict of str to numpy.ndarray
        Same keys and shapes as :func:`embed` returns for this probe.
    """
    check_choice("estimator", estimator, FISHER_KINDS)
    _check_probe(probe)
    check_positive("beta", beta)
    if prior_std is not None:
        check_positive("prior_std", prior_std)
    layers = _body_layers(probe.body)
    prior_var = _prior_variances(layers, prior_std)
    scale = beta if estimator == "mc" else 1.0
    out = {name: np.full(module.weight.shape[0], scale / prior_var[name], dtype=np.float64)
           for name, module in layers.items()}
    return dict(sorted(out.items()))


def _with_zero_head(probe: nn.Module, n_classes: int) -> nn.Module:
    net = copy.deepcopy(probe)
    old = probe.head
    head = nn.Linear(old.in_features, n_classes, device=old.weight.device, dtype=old.weight.dtype)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    net.head = head
    return net


def _body_layers(body: nn.Module) -> dict[str, nn.Module]:
    """The Conv2d and Linear modules of the body, by name, in module order."""
    layers = {name: m for name, m in body.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    if not layers:
        raise ValueError(f"the probe's body ({type(body).__name__}) has no nn.Conv2d or nn.Linear layer")
    return layers


def _prior_variances(layers: dict[str, nn.Module], prior_std: float | None) -> dict[str, float]:
    """``λ²`` per layer: ``prior_std²``, or ``mean(ŵ²)`` of the layer's weights."""
    if prior_std is not None:
        return {name: float(prior_std) ** 2 for name in layers}
    out = {}
    for name, module in layers.items():
        lam2 = float(module.weight.detach().double().square().mean())
        if not lam2 > 0 or not math.isfinite(lam2):
            raise ValueError(
                f"layer {name!r} of the probe has all-zero or non-finite weights: its prior variance "
                f"mean(w²) = {lam2} is unusable; pass prior_std"
            )
        out[name] = lam2
    return out


def _variational_precision(
    net: nn.Module,
    layers: dict[str, nn.Module],
    prior_var: dict[str, float],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    beta: float,
    seed: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """``1/σ²`` per filter after minimising ``E[CE] + β KL`` over the log-variances (see :func:`embed`)."""
    logvar: dict[str, nn.Parameter] = {}
    for name, module in layers.items():
        w = module.weight.detach()
        var = INIT_VARIANCE_SCALE * w.reshape(w.shape[0], -1).var(dim=1, correction=0)  # (out,)
        var = var.clamp(1e-6 * prior_var[name], prior_var[name])
        logvar[name] = nn.Parameter(var.log())
    noise = torch.Generator(device=device).manual_seed(stable_seed(seed, "task2vec-noise"))
    order_gen = torch.Generator().manual_seed(stable_seed(seed, "task2vec-order"))
    handles = [
        module.register_forward_hook(functools.partial(_perturb, logvar=logvar[name], generator=noise))
        for name, module in layers.items()
    ]
    opt = Adam(logvar.values(), lr=lr)
    total, steps = epochs * math.ceil(len(y) / batch_size), 0
    per_filter = {name: module.weight[0].numel() for name, module in layers.items()}
    log_prior = {name: math.log(v) for name, v in prior_var.items()}
    progress = Progress("task2vec variational", epochs * len(y), "samples", logger=log)
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(y), generator=order_gen)
            ce_sum = 0.0
            for start in range(0, len(y), batch_size):
                idx = order[start : start + batch_size]
                xb, yb = x[idx].to(device), y[idx].to(device)
                ce = F.cross_entropy(net(xb), yb)  # E_w[CE] by one local-reparameterisation draw per example
                kl = sum(
                    0.5 * per_filter[name] * ((s - log_prior[name]).exp() - 1.0 - (s - log_prior[name])).sum()
                    for name, s in logvar.items()
                )  # KL(N(ŵ, σ²) || N(0, λ²)) minus its constant ŵ²/λ² part
                loss = ce + beta * kl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.lr = lr * (1.0 - steps / total)  # linear decay to 0
                opt.step()
                steps += 1
                ce_sum += ce.item() * len(idx)
                progress.advance(len(idx))
            log.info("task2vec variational epoch %d/%d  E[CE] %.4f  KL %.4g", epoch, epochs, ce_sum / len(y),
                     kl.item())
    finally:
        for handle in handles:
            handle.remove()
    progress.end()
    return {name: torch.exp(-s.detach()).to("cpu", torch.float64).numpy() for name, s in logvar.items()}


def _perturb(
    module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, *, logvar: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Forward hook: the layer's output sampled under ``w ~ N(ŵ, σ²)`` by local reparameterisation.

    ``z = layer(a; ŵ) + sqrt(layer(a²; σ²)) ε``; with ``σ²`` constant over a filter,
    ``layer(a²; σ²)`` is ``σ_o²`` times the sum of ``a²`` over the filter's receptive field.
    """
    a = inputs[0]
    var = logvar.exp()  # (out,)
    if isinstance(module, nn.Linear):
        out_var = a.square().sum(-1, keepdim=True) * var  # (B, ..., out)
    elif module.groups == 1:
        ones = torch.ones((1, 1, *module.weight.shape[2:]), dtype=a.dtype, device=a.device)  # (1, 1, kh, kw)
        field = module._conv_forward(a.square().sum(1, keepdim=True), ones, None)  # (B, 1, H', W')
        out_var = field * var.view(1, -1, 1, 1)  # (B, out, H', W')
    else:
        var_w = var.view(-1, 1, 1, 1).expand_as(module.weight)  # (out, in/groups, kh, kw)
        out_var = module._conv_forward(a.square(), var_w, None)  # (B, out, H', W')
    eps = torch.randn(output.shape, generator=generator, dtype=output.dtype, device=output.device)
    return output + out_var.clamp_min(_MIN_STD_VARIANCE).sqrt() * eps


# ---------------------------------------------------------------------------------------
# validation


def _check_probe(probe: object) -> None:
    if not isinstance(probe, nn.Module):
        raise TypeError(f"probe must be a torch.nn.Module, got {type(probe).__name__}")
    if not isinstance(getattr(probe, "body", None), nn.Module):
        raise TypeError(f"probe ({type(probe).__name__}) must have a `body` module (the feature extractor)")
    if not isinstance(getattr(probe, "head", None), nn.Linear):
        raise TypeError(f"probe ({type(probe).__name__}) must have a `head` that is an nn.Linear")


def _check_task(probe: object, images: object, labels: object, n_classes: object) -> tuple[torch.Tensor, torch.Tensor]:
    _check_probe(probe)
    check_int("n_classes", n_classes, minimum=2)
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = getattr(images, "dtype", type(images).__name__)
        raise TypeError(f"images must be a floating point tensor or array, got {got}")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        got = getattr(labels, "dtype", type(labels).__name__)
        raise TypeError(f"labels must be an integer tensor or array, got {got}")
    if images.dim() < 2 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty batch (N, C, H, W), got shape {tuple(images.shape)}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels must have shape (N,) with N = {images.shape[0]} images, got shape {tuple(labels.shape)}"
        )
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}) for n_classes={n_classes}, got range [{lo}, {hi}]")
    return images, labels.long()
