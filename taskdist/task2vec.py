r"""Task2Vec: a task as the Fisher Information of a fixed probe network (Achille et al., ICCV 2019).

One *probe* network is shared by all tasks. For a task ``(x_i, y_i)``:

1. a copy of the probe gets a fresh linear head for the task's classes; only the head is fitted
   (Adam, lr 4e-4, weight decay 1e-4, 10 epochs, as in the paper), the body is frozen;
2. the diagonal Fisher Information of the weights of the *body* (the classifier excluded) is
   estimated and averaged over each filter (one value per output channel of a convolution,
   per output unit of a linear layer). These per-filter values, concatenated over layers, are
   the task's embedding.

Two estimators of step 2:

- ``"montecarlo"``: the Fisher ``F = E_x E_{y ~ p_w(y|x)}[(grad_w log p_w(y|x))^2]`` with labels
  sampled from the model, per sample (:func:`taskdist.fisher.fisher_diagonal`, ``estimator="mc"``);
- ``"variational"`` (the paper's "robust Fisher"): a Gaussian perturbation ``w ~ N(ŵ, Λ)`` of the
  body's weights, one variance per filter, is learnt by minimising

  .. math::

      L(Λ) = \mathbb{E}_{w \sim N(\hat w, Λ)}\bigl[H_{p_w, \hat p}(y \mid x)\bigr]
             + β\, \mathrm{KL}\bigl(N(\hat w, Λ) \,\|\, N(0, λ^2 I)\bigr),

  and "the Fisher is approximated by the inverse of the variance": the embedding is ``1/σ²`` per
  filter. For a quadratic loss the optimum is ``1/σ² = F/β + 1/λ²`` (see :func:`embed`).

Distances (paper §3.2): the symmetric one is the cosine distance of the embeddings normalised
by their sum, ``d_sym(a, b) = d_cos(F_a/(F_a+F_b), F_b/(F_a+F_b))``; the asymmetric one,
``d_asym(a -> b) = d_sym(a, b) - α d_sym(a, t_0)`` "where t_0 is the trivial embedding"
(:func:`trivial_embedding`), brings complex source tasks closer to every target.

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
import difflib
import functools
import logging
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from taskdist import fisher, tasks, train
from taskdist.config import stable_seed
from taskdist.optim import Adam

VERSION = 1
"""Version of the Task2Vec embeddings and distances; raised whenever their results change."""

log = logging.getLogger(__name__)

ESTIMATORS = ("montecarlo", "variational")
PROBE_KINDS = ("trained", "torchvision")
DEFAULT_VARIATIONAL_EPOCHS = 20
DEFAULT_VARIATIONAL_LR = 0.1
INIT_VARIANCE_SCALE = 0.05  # initial σ² of a filter = 0.05 * variance of its weights, as in the reference code
_MIN_STD_VARIANCE = 1e-30  # pre-activation variances below this get no noise and no gradient (avoids sqrt'(0))

__all__ = [
    "ESTIMATORS",
    "PROBE_KINDS",
    "ProbeSpec",
    "TorchvisionProbe",
    "asymmetric_distance",
    "distance_matrices",
    "embed",
    "embedding_from_table",
    "embedding_table",
    "embedding_vector",
    "probe_from_spec",
    "symmetric_distance",
    "torchvision_probe",
    "trivial_embedding",
]


# ---------------------------------------------------------------------------------------
# the probe network


@dataclass(frozen=True)
class ProbeSpec:
    """How the probe network is obtained.

    Parameters
    ----------
    kind
        ``"trained"``: a :class:`~taskdist.models.TaskNet` trained by the workflow on a probe
        task (its checkpoint is passed to :func:`probe_from_spec`); ``"torchvision"``: a
        torchvision classification architecture (:func:`torchvision_probe`).
    arch
        torchvision architecture name, e.g. ``"resnet18"``; required for ``kind="torchvision"``,
        must be None for ``kind="trained"``.
    weights
        Path of a state-dict file for ``kind="torchvision"`` (nothing is downloaded); None
        leaves the architecture randomly initialised. Must be None for ``kind="trained"``.
    """

    kind: str
    arch: str | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROBE_KINDS:
            raise ValueError(f"probe kind must be one of {PROBE_KINDS}, got {self.kind!r}")
        if self.kind == "torchvision" and not self.arch:
            raise ValueError("a torchvision probe needs an architecture name, e.g. arch='resnet18'")
        if self.kind == "trained" and (self.arch is not None or self.weights is not None):
            raise ValueError(
                f"a trained probe is the workflow's TaskNet: arch and weights must be None, "
                f"got arch={self.arch!r}, weights={self.weights!r}"
            )


class TorchvisionProbe(nn.Module):
    """A torchvision classifier split into ``body`` (features) and ``head`` (a new linear classifier).

    ``body`` is the torchvision model with its final ``nn.Linear`` replaced by ``nn.Identity``,
    so ``body(x)`` has shape ``(B, head.in_features)``.
    """

    def __init__(self, body: nn.Module, head: nn.Linear, arch: str):
        super().__init__()
        self.arch = arch
        self.body = body
        self.head = head

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)


def torchvision_probe(
    arch: str, weights: str | Path | None, in_channels: int, n_classes: int, *, seed: int = 0
) -> TorchvisionProbe:
    """A torchvision classification model as a probe with an explicit ``body`` / ``head`` split.

    The model is built without weights (nothing downloads), then, if ``weights`` is given, the
    state dict in that file is loaded into the *original* model, classifier included (so the
    file must match the architecture exactly). Then:

    - the final ``nn.Linear`` (``fc`` of a ResNet, ``classifier[-1]`` of a VGG or MobileNet,
      ``heads.head`` of a ViT, ...) is replaced by ``nn.Identity`` in the body and by a new
      ``nn.Linear(in_features, n_classes)`` head;
    - for ``in_channels == 1`` the first convolution taking 3 channels is replaced by one taking
      1 channel whose filters are the RGB filters summed over the channel axis,
      ``W'[o, 0] = sum_c W[o, c]``: a gray image ``g`` then gives exactly the response the RGB
      model gives to ``(g, g, g)``.

    Parameters
    ----------
    arch
        Name from ``torchvision.models.list_models(module=torchvision.models)``, e.g.
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"vgg11"``, ``"mobilenet_v3_small"``.
    weights
        Path of a state dict saved with ``torch.save(model.state_dict(), path)``, read with
        ``torch.load(weights_only=True)``; None keeps the random initialisation.
    in_channels
        1 (gray) or 3 (RGB) input channels.
    n_classes
        Outputs of the new head, ``>= 1``.
    seed
        Seed of the random initialisation (of the whole model when ``weights`` is None, of the
        new head otherwise); the global RNG is left untouched.

    Returns
    -------
    TorchvisionProbe
        In eval mode, on CPU.

    Raises
    ------
    ValueError
        For an unknown ``arch``, an architecture without a final ``nn.Linear`` (e.g. SqueezeNet),
        ``in_channels`` not 1 or 3, ``n_classes < 1``, or a weights file that cannot be read as
        a state dict or does not match the architecture.
    FileNotFoundError
        If ``weights`` does not exist.
    """
    import torchvision.models

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        close = difflib.get_close_matches(str(arch), known, n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"unknown torchvision classification architecture {arch!r}{hint} (known: {known})")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
    _check_int("n_classes", n_classes, minimum=1)

    state = _read_state_dict(weights, arch) if weights is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.get_model(arch, weights=None)
        fc_name, fc = _final_linear(model, arch)
        rows = state.get(f"{fc_name}.weight") if state is not None else None
        if isinstance(rows, torch.Tensor) and rows.dim() == 2 and rows.shape[0] != fc.out_features:
            # a file trained with another number of classes: build the matching classifier first
            model = torchvision.models.get_model(arch, weights=None, num_classes=rows.shape[0])
            fc_name, fc = _final_linear(model, arch)
        if state is not None:
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ValueError(f"weights file {weights} does not match torchvision architecture {arch!r}: {e}") from e
        head = nn.Linear(fc.in_features, n_classes)
    _set_submodule(model, fc_name, nn.Identity())
    if in_channels == 1:
        _to_gray(model, arch)
    return TorchvisionProbe(model, head, arch).eval()


def probe_from_spec(
    spec: ProbeSpec, *, in_channels: int, checkpoint: dict | None = None, n_classes: int = 2
) -> nn.Module:
    """The probe network described by ``spec``.

    Parameters
    ----------
    spec
        How to obtain the probe: a :class:`ProbeSpec`, or any object with the attributes
        ``kind``, ``arch`` and ``weights`` (e.g. the config's probe spec, which also lists the
        probe tasks), checked as a :class:`ProbeSpec`.
    in_channels
        Channels of the experiment's images (torchvision probes are adapted to 1 channel).
    checkpoint
        For ``kind="trained"``: the checkpoint dict of the probe task's network
        (``results/models/{task}.pt``, see :func:`taskdist.stages.train_task`).
    n_classes
        Outputs of the probe's head; irrelevant to :func:`embed`, which replaces the head.
    """
    if not isinstance(spec, ProbeSpec):
        if not all(hasattr(spec, a) for a in ("kind", "arch", "weights")):
            raise TypeError(f"spec must be a ProbeSpec (kind, arch, weights), got {type(spec).__name__}")
        spec = ProbeSpec(spec.kind, spec.arch, spec.weights)
    if spec.kind == "trained":
        if checkpoint is None:
            raise ValueError("a trained probe needs the checkpoint of the probe task's network")
        from taskdist.checkpoint import load_network

        net = load_network(checkpoint, torch.device("cpu"))
        if net.in_channels != in_channels:
            raise ValueError(f"the probe network takes {net.in_channels} channels, the images have {in_channels}")
        return net
    if checkpoint is not None:
        raise ValueError("a torchvision probe takes its weights from spec.weights, not from a checkpoint")
    return torchvision_probe(spec.arch, spec.weights, in_channels, n_classes)


def _read_state_dict(weights: str | Path, arch: str) -> dict[str, torch.Tensor]:
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file for torchvision probe {arch!r} not found: {path}")
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


def _final_linear(model: nn.Module, arch: str) -> tuple[str, nn.Linear]:
    """The classifier of a torchvision model: its last registered ``nn.Linear``."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"torchvision architecture {arch!r} has no final nn.Linear classifier to replace")
    return linears[-1]


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _to_gray(model: nn.Module, arch: str) -> None:
    """Replace the first 3-channel ``nn.Conv2d`` by a 1-channel one with the RGB filters summed."""
    first = next(
        ((name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), None
    )
    if first is None:
        raise ValueError(f"torchvision architecture {arch!r} has no 3-channel Conv2d to adapt to gray input")
    name, conv = first
    if conv.groups != 1:
        raise ValueError(f"cannot adapt the grouped first convolution {name!r} of {arch!r} to 1 channel")
    gray = nn.Conv2d(
        1, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        gray.weight.copy_(conv.weight.sum(dim=1, keepdim=True))  # (out, 1, kh, kw)
        if conv.bias is not None:
            gray.bias.copy_(conv.bias)
    _set_submodule(model, name, gray)


# ---------------------------------------------------------------------------------------
# the embedding


def embed(
    probe: nn.Module,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    n_classes: int,
    *,
    estimator: str,
    head_epochs: int = 10,
    head_lr: float = 4e-4,
    head_weight_decay: float = 1e-4,
    batch_size: int = 64,
    mc_samples: int = 1,
    samples: int | None = None,
    variational_epochs: int = DEFAULT_VARIATIONAL_EPOCHS,
    variational_lr: float = DEFAULT_VARIATIONAL_LR,
    beta: float = 1e-7,
    prior_std: float | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    r"""Task2Vec embedding of the task ``(images, labels)``: per-filter Fisher of the probe's body.

    Steps (Achille et al. 2019, §2-3):

    1. A copy of ``probe`` gets a new head ``nn.Linear(in_features, n_classes)`` initialised to
       zero; the body is frozen (eval mode) and only the head is fitted on all of
       ``(images, labels)`` with :func:`taskdist.train.fit` (Adam, cross-entropy, ``head_lr``,
       ``head_weight_decay``, ``head_epochs``) on the body's features computed once.
    2. On at most ``samples`` of the examples (all if None), the filter-level Fisher of the
       weights of every ``nn.Conv2d`` and ``nn.Linear`` module of ``probe.body`` (biases,
       normalisation layers and the head excluded, as in the reference implementation):

       - ``"montecarlo"``: :func:`taskdist.fisher.fisher_diagonal` with ``estimator="mc"``,
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

    Parameters
    ----------
    probe
        A module with a ``body`` (feature extractor, ``(B, ...) -> (B, D)``) and a ``head``
        (``nn.Linear(D, ·)``), e.g. a :class:`~taskdist.models.TaskNet` or a
        :class:`TorchvisionProbe`. It is not modified.
    images
        Floating point ``(N, C, H, W)`` (tensor or array).
    labels
        Integer labels ``(N,)`` in ``[0, n_classes)``.
    n_classes
        Number of classes of the task, ``>= 2``.
    estimator
        ``"montecarlo"`` or ``"variational"`` (:data:`ESTIMATORS`).
    head_epochs, head_lr, head_weight_decay
        Head fit; the paper's values are 10 epochs, Adam lr ``4e-4``, weight decay ``1e-4``.
    batch_size
        Mini-batch size of the head fit, the Fisher passes and the variational optimisation.
    mc_samples
        Labels drawn per example by ``"montecarlo"``.
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
        order (the order of :func:`embedding_vector` and :func:`embedding_table`).

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
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    for name, value in (("head_epochs", head_epochs), ("batch_size", batch_size), ("mc_samples", mc_samples),
                        ("variational_epochs", variational_epochs)):
        _check_int(name, value, minimum=1)
    if samples is not None:
        _check_int("samples", samples, minimum=1)
    _check_int("seed", seed, minimum=None)
    for name, value in (("head_lr", head_lr), ("variational_lr", variational_lr), ("beta", beta)):
        _check_positive(name, value)
    _check_positive("head_weight_decay", head_weight_decay, allow_zero=True)
    if prior_std is not None:
        _check_positive("prior_std", prior_std)
    device = torch.device(device)

    net = _with_zero_head(probe, n_classes).to(device)
    net.requires_grad_(False)
    net.eval()
    layers = _body_layers(net.body)
    prior_var = _prior_variances(layers, prior_std)

    # 1. the head, on the body's features (computed once)
    with torch.no_grad():
        feats = torch.cat([net.body(images[s : s + 512].to(device)) for s in range(0, len(images), 512)])  # (N, D)
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
    if estimator == "montecarlo":
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
    probe: nn.Module, *, estimator: str, beta: float = 1e-7, prior_std: float | None = None
) -> dict[str, np.ndarray]:
    r"""Embedding of the trivial task ``t_0`` used by :func:`asymmetric_distance`.

    The paper defines ``d_asym(t_a -> t_b) = d_sym(t_a, t_b) - α d_sym(t_a, t_0)`` "where t_0 is
    the trivial embedding" (§3.2), the embedding of a task that carries no information. We take
    it literally: for labels independent of the images, the weight-decayed head converges to
    zero weights, ``p_w(y|x)`` stops depending on ``w`` and the Fisher is ``F = 0``. The
    variational objective is then ``β KL(N(ŵ, Λ) || N(0, λ²I))`` alone, minimised by the
    prior's variance ``σ² = λ²``, so the trivial variational embedding is

    .. math::  t_0 = 1/λ_l^2 \quad \text{for every filter of layer } l,

    exactly the floor of :func:`embed`'s ``1/σ² = F/β + 1/λ²``. This is what the reference
    implementation does (``get_trivial_embedding_from`` sets every filter's log-variance to its
    layer's ``log λ²``). For ``"montecarlo"``, whose embedding ``F`` has no prior term, ``F = 0``
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
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    _check_probe(probe)
    _check_positive("beta", beta)
    if prior_std is not None:
        _check_positive("prior_std", prior_std)
    layers = _body_layers(probe.body)
    prior_var = _prior_variances(layers, prior_std)
    scale = beta if estimator == "montecarlo" else 1.0
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
            log.info("task2vec variational epoch %d/%d  E[CE] %.4f  KL %.4g", epoch, epochs, ce_sum / len(y),
                     kl.item())
    finally:
        for handle in handles:
            handle.remove()
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
# vectors, tables, distances


def embedding_vector(embedding: Mapping[str, np.ndarray]) -> np.ndarray:
    """Concatenate an embedding into one float64 vector, layers in sorted key order.

    Parameters
    ----------
    embedding
        Layer name to a 1-D array of per-filter values, as returned by :func:`embed`.
    """
    _check_embedding(embedding, "embedding")
    return np.concatenate([np.asarray(embedding[k], dtype=np.float64) for k in sorted(embedding)])


def embedding_table(embedding: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """An embedding as the long frame ``layer, filter, value``, sorted by layer then filter.

    This is the artifact ``results/task2vec/{task}.parquet``; :func:`embedding_from_table`
    inverts it.
    """
    _check_embedding(embedding, "embedding")
    frames = []
    for layer in sorted(embedding):
        values = np.asarray(embedding[layer], dtype=np.float64)
        frames.append(pd.DataFrame({"layer": layer, "filter": np.arange(len(values), dtype=np.int32),
                                    "value": values}))
    return pd.concat(frames, ignore_index=True)


def embedding_from_table(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inverse of :func:`embedding_table`: ``{layer: per-filter values}``, keys in sorted order.

    Raises
    ------
    ValueError
        If a column is missing, the table is empty, or a layer's filters are not exactly
        ``0 .. n-1`` once each.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("layer", "filter", "value") if c not in df.columns]
    if missing:
        raise ValueError(f"embedding table lacks column(s) {missing}; has {list(df.columns)}")
    if len(df) == 0:
        raise ValueError("embedding table is empty")
    out = {}
    for layer, group in df.groupby("layer", sort=True):
        group = group.sort_values("filter", kind="stable")
        filters = group["filter"].to_numpy()
        if not np.array_equal(filters, np.arange(len(filters))):
            raise ValueError(
                f"layer {layer!r} of the embedding table must have filters 0..{len(filters) - 1} once each"
            )
        out[str(layer)] = group["value"].to_numpy(dtype=np.float64)
    _check_embedding(out, "embedding table")
    return out


def symmetric_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    r"""Symmetric Task2Vec distance: cosine distance of the embeddings normalised by their sum.

    .. math::

        d_\mathrm{sym}(a, b) = 1 - \frac{u \cdot v}{\lVert u\rVert\,\lVert v\rVert},
        \qquad u = \frac{F_a}{F_a + F_b},\; v = \frac{F_b}{F_a + F_b}\ \text{(elementwise)}.

    The normalisation makes the distance ignore filters whose Fisher is large for every task
    (paper §3.2). It lies in ``[0, 1]`` (``u, v >= 0``), is symmetric, is 0 when ``F_a = F_b``
    and, more generally, when ``F_b = c F_a`` for a constant ``c > 0``.

    0/0 guard: a filter with ``F_a = F_b = 0`` (neither task has information there) gets
    ``u = v = 0``, i.e. it is left out. This is the ``ε -> 0`` limit of the reference code's
    ``F_a / (F_a + F_b + 1e-8)``, without its dependence on the scale of the embeddings
    (Monte-Carlo Fisher values of a small probe can be below ``1e-8``). If ``u`` or ``v`` is then
    all zero (one embedding is zero wherever the other is not), the cosine is undefined; the
    distance is 0 if both embeddings are zero and 1 otherwise.

    Parameters
    ----------
    fa, fb
        Non-negative, finite 1-D embeddings of equal length (see :func:`embedding_vector`).

    Returns
    -------
    float
    """
    fa, fb = _pair(fa, fb)
    return _d_sym(fa, fb)


def asymmetric_distance(fa: np.ndarray, fb: np.ndarray, f_trivial: np.ndarray, alpha: float = 0.15) -> float:
    r"""Asymmetric Task2Vec distance from source ``a`` to target ``b`` (paper §3.2).

    .. math::  d_\mathrm{asym}(a \to b) = d_\mathrm{sym}(a, b) - α\, d_\mathrm{sym}(a, t_0),

    with ``t_0`` the trivial embedding (:func:`trivial_embedding`). The more information the
    source task carries (the farther from ``t_0``), the closer it is to every target: complex
    sources are favoured for transfer. The paper uses ``α = 0.15`` (ResNet-34 probe). Values lie
    in ``[-α, 1]``; the reference implementation never finished this distance.

    Parameters
    ----------
    fa, fb
        Embeddings of the source and the target (non-negative 1-D, equal length).
    f_trivial
        Embedding of the trivial task, same length.
    alpha
        ``α >= 0``.
    """
    _check_alpha(alpha)
    fa, fb = _pair(fa, fb)
    _, f0 = _pair(fa, f_trivial, names=("fa", "f_trivial"))
    return _d_sym(fa, fb) - float(alpha) * _d_sym(fa, f0)


def distance_matrices(
    embeddings: Mapping[str, np.ndarray | Mapping[str, np.ndarray]],
    trivial: np.ndarray | Mapping[str, np.ndarray] | None,
    alpha: float = 0.15,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Symmetric and asymmetric Task2Vec distances over all ordered pairs of tasks.

    Parameters
    ----------
    embeddings
        Task id to its embedding: a vector, or a per-layer dict (flattened with
        :func:`embedding_vector`; all dicts must have the same layers).
    trivial
        The trivial embedding (vector or per-layer dict), or None to skip the asymmetric matrix.
    alpha
        ``α >= 0`` of :func:`asymmetric_distance`.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or None)
        Long frames ``source, target, value`` in the order of ``embeddings`` (source-major):
        ``d_sym(source, target)`` with an exact 0 diagonal, and ``d_asym(source -> target)``,
        whose diagonal is ``-α d_sym(a, t_0)`` as the formula gives (None without ``trivial``).
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ValueError("embeddings must be a non-empty mapping of task id to embedding")
    _check_alpha(alpha)
    vectors = {task: _as_vector(e, f"embeddings[{task!r}]") for task, e in embeddings.items()}
    items = dict(embeddings)
    if trivial is not None:
        items[None] = trivial
        vectors[None] = _as_vector(trivial, "trivial")
    first = next(iter(embeddings))
    layout = next((lay for lay in map(_layout, items.values()) if lay is not None), None)
    for task, e in items.items():
        what = "the trivial embedding" if task is None else f"the embedding of {task!r}"
        if vectors[task].shape != vectors[first].shape:
            raise ValueError(
                f"{what} has {vectors[task].size} values, the embedding of {first!r} {vectors[first].size}"
            )
        if _layout(e) not in (None, layout):
            raise ValueError(f"{what} has other layers or filter counts than the others")
    tasks_ = list(embeddings)
    sym_rows, asym_rows = [], []
    f0 = vectors.get(None)
    d_trivial = {a: _d_sym(vectors[a], f0) for a in tasks_} if f0 is not None else {}
    for a in tasks_:
        for b in tasks_:
            d = 0.0 if a == b else _d_sym(vectors[a], vectors[b])
            sym_rows.append({"source": a, "target": b, "value": d})
            if f0 is not None:
                asym_rows.append({"source": a, "target": b, "value": d - float(alpha) * d_trivial[a]})
    sym = pd.DataFrame(sym_rows, columns=["source", "target", "value"])
    asym = pd.DataFrame(asym_rows, columns=["source", "target", "value"]) if f0 is not None else None
    return sym, asym


def _d_sym(fa: np.ndarray, fb: np.ndarray) -> float:
    total = fa + fb
    nz = total > 0
    u = np.where(nz, fa / np.where(nz, total, 1.0), 0.0)
    v = np.where(nz, fb / np.where(nz, total, 1.0), 0.0)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        return 0.0 if nu == nv else 1.0
    return float(np.clip(1.0 - np.dot(u, v) / (nu * nv), 0.0, 1.0))


# ---------------------------------------------------------------------------------------
# validation


def _check_int(name: str, value: object, *, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")


def _check_alpha(alpha: object) -> None:
    _check_positive("alpha", alpha, allow_zero=True)


def _check_probe(probe: object) -> None:
    if not isinstance(probe, nn.Module):
        raise TypeError(f"probe must be a torch.nn.Module, got {type(probe).__name__}")
    if not isinstance(getattr(probe, "body", None), nn.Module):
        raise TypeError(f"probe ({type(probe).__name__}) must have a `body` module (the feature extractor)")
    if not isinstance(getattr(probe, "head", None), nn.Linear):
        raise TypeError(f"probe ({type(probe).__name__}) must have a `head` that is an nn.Linear")


def _check_task(probe: object, images: object, labels: object, n_classes: object) -> tuple[torch.Tensor, torch.Tensor]:
    _check_probe(probe)
    _check_int("n_classes", n_classes, minimum=2)
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


def _check_embedding(embedding: object, what: str) -> None:
    if not isinstance(embedding, Mapping) or not embedding:
        raise ValueError(f"{what} must be a non-empty mapping of layer name to per-filter values")
    for layer, values in embedding.items():
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{what}[{layer!r}] must be a non-empty 1-D array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{what}[{layer!r}] must be finite and non-negative")


def _layout(e: object) -> tuple[tuple[str, int], ...] | None:
    """Layer names and sizes of a per-layer embedding; None for a plain vector."""
    if isinstance(e, Mapping):
        return tuple((k, len(np.asarray(e[k]))) for k in sorted(e))
    return None


def _as_vector(e: object, what: str) -> np.ndarray:
    if isinstance(e, Mapping):
        _check_embedding(e, what)
        return embedding_vector(e)
    arr = np.asarray(e, dtype=np.float64)
    _check_vector(arr, what)
    return arr


def _check_vector(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{what} must be finite and non-negative")


def _pair(fa: object, fb: object, names: tuple[str, str] = ("fa", "fb")) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(fa, dtype=np.float64)
    b = np.asarray(fb, dtype=np.float64)
    _check_vector(a, names[0])
    _check_vector(b, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
    return a, b
