"""Transferability bound (Mehra, Zhang & Hamm, arXiv 2307.00823): why a source's head transfers, term by term.

Linear transfer keeps the source network's body frozen. On its features,
standardised per task (``z``), the source head ``h_S`` is carried to the
target through learnable transforms: an affine map ``A z + b`` of source
features into the target's, an approximate inverse ``Ā``, a label map ``B``
(column-stochastic, target x source classes) and a new source class prior
``D``. The transferred head is

    h_T(z) = B · softmax(h_S(Ā (z - b))),

and its target cross-entropy is bounded by three terms (every step exact on
the samples the bound is computed on):

1. **re-weighted source loss** ``Σ_i w_i CE(h_S(Ā A z_i), y_i)`` with
   ``w_i = D_{y_i} / (n prior_{y_i})``: the source head on its own features
   after the round trip, each class weighed by ``D``;
2. **conditional entropy** ``H(Y_T | Y_S) = -Σ_s D_s Σ_t B_ts log B_ts``: how
   ambiguous the label map is. Since ``-log (B p)_t <= -log B_ts - log p_s``
   for every ``s``, terms 1 + 2 bound the loss of ``h_T`` on the transformed
   source samples ``(A z_i + b, t)`` weighted ``w_i B_{t y_i}``;
3. **τ · W1** between those transformed source samples and the target
   samples, by exact optimal transport (POT's ``emd``) on the cost
   ``|z - z'| + κ [y != y']``. ``τ = sqrt(2) |W Ā|_2`` (``W`` the source
   head's weights on standardised features) is a *global* Lipschitz constant
   of ``z -> CE(h_T(z), y)``: its gradient is ``(W Ā)^T (p - r)`` with ``p``
   and ``r`` distributions, and ``|p - r|_2 <= sqrt 2``. The label-mismatch
   cost ``κ`` is the smallest that keeps the step valid: ``τ κ`` = the
   largest target loss, which bounds the loss difference of a mismatched pair.

So ``bound >= CE of h_T`` on the target samples the bound reads, by
construction, for any transforms; the transforms are optimised (Adam on the
bound plus a penalty ``|A Ā - I|² + |Ā A - I|²`` keeping ``Ā`` an inverse) to
make it tight, and the best iterate is kept. Settings (the paper's):
``LearnedAll`` learns A, Ā, b, B and D; ``LearnedA`` learns A, Ā and b with
B a fixed random assignment of source classes to target classes (a
permutation when the counts match) and D the source prior; ``FixedAll``
learns nothing (A = Ā = I, b = 0, B and D as in LearnedA). LearnedAll starts
from the FixedAll point, so its best iterate is never worse.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from taskdist.checks import check_choice
from taskdist.progress import Progress
from taskdist.seeds import stable_seed

if TYPE_CHECKING:
    import torch

    from taskdist.nets import models
    from taskdist.specs import BoundSpec

log = logging.getLogger(__name__)

VERSION = 1
"""Version of the transferability bound; raised whenever what it computes changes."""

BOUND_SETTINGS = ("LearnedAll", "LearnedA", "FixedAll")
TERMS = ("source_loss", "conditional_entropy", "wasserstein")
"""The bound's terms, in the order they add up (``wasserstein`` is ``τ · W1``)."""


def assignment(n_target: int, n_source: int, seed: int) -> np.ndarray:
    """A random assignment of source classes to target classes, as a 0/1 column-stochastic ``(n_target,
    n_source)`` matrix: a permutation when the counts match, otherwise every target class gets
    ``floor`` or ``ceil`` of ``n_source / n_target`` source classes (when ``n_source >= n_target``)."""
    rng = np.random.default_rng(seed)
    targets = np.arange(n_source) % n_target
    B = np.zeros((n_target, n_source))
    B[rng.permutation(targets), np.arange(n_source)] = 1.0
    return B


def wasserstein(z_source: torch.Tensor, labels_source: np.ndarray, weights: torch.Tensor, z_target: torch.Tensor,
                labels_target: np.ndarray, mismatch: float) -> torch.Tensor:
    """W1 between two labelled point clouds by exact OT (POT's ``emd2``), cost ``|z - z'|_2 + mismatch [y != y']``.

    ``weights`` are the source points' masses (normalised here); every target
    point weighs ``1 / n``. The value is differentiable in the points and the
    source masses (POT's torch backend: the optimal plan and dual potentials).
    """
    import torch

    from taskdist.methods import pot as ot  # POT's solver only (import ot costs ~1.6 CPU-s)

    dist = torch.cdist(z_source, z_target)  # (n_s, n_t)
    differ = torch.from_numpy(np.asarray(labels_source)[:, None] != np.asarray(labels_target)[None, :])
    cost = dist.double() + mismatch * differ.double()
    a = weights.double() / weights.double().sum()
    b = torch.full((len(z_target),), 1.0 / len(z_target), dtype=torch.float64)
    return ot.emd2(a, b, cost, numItermax=1_000_000)


class Transforms:
    """A, Ā, b, B and D of one setting, as torch tensors (the learned ones require gradients)."""

    def __init__(self, d: int, fixed_B: np.ndarray, prior: np.ndarray, setting: str):
        import torch

        check_choice("setting", setting, BOUND_SETTINGS)
        self.setting = setting
        learn_map = setting != "FixedAll"
        learn_labels = setting == "LearnedAll"
        eye = torch.eye(d, dtype=torch.float64)
        self.A = eye.clone().requires_grad_(learn_map)
        self.A_inv = eye.clone().requires_grad_(learn_map)
        self.b = torch.zeros(d, dtype=torch.float64, requires_grad=learn_map)
        self.fixed_B = torch.from_numpy(fixed_B)
        self.prior = torch.from_numpy(prior)
        # learned label map and prior start near the fixed ones (softmax cannot reach 0/1 exactly)
        self.B_logits = (4.0 * self.fixed_B).requires_grad_(learn_labels)
        self.D_logits = torch.log(self.prior).requires_grad_(learn_labels)
        self.learn_labels = learn_labels

    def params(self) -> list[tuple[torch.Tensor, str]]:
        """The learned tensors with their learning-rate group: ``map`` (A, Ā, b, B) or ``prior`` (D)."""
        out = [(t, "map") for t in (self.A, self.A_inv, self.b) if t.requires_grad]
        if self.learn_labels:
            out += [(self.B_logits, "map"), (self.D_logits, "prior")]
        return out

    def B(self, start: bool = False) -> torch.Tensor:
        import torch

        return self.fixed_B if start or not self.learn_labels else torch.softmax(self.B_logits, dim=0)

    def D(self, start: bool = False) -> torch.Tensor:
        import torch

        return self.prior if start or not self.learn_labels else torch.softmax(self.D_logits, dim=0)

    def state(self, start: bool = False) -> dict[str, np.ndarray]:
        return {"A": self.A.detach().numpy().copy(), "A_inv": self.A_inv.detach().numpy().copy(),
                "b": self.b.detach().numpy().copy(), "B": self.B(start).detach().numpy().copy(),
                "D": self.D(start).detach().numpy().copy()}


def bound_terms_at(head_w: torch.Tensor, head_b: torch.Tensor, zs: torch.Tensor, ys: np.ndarray, zt: torch.Tensor,
             yt: np.ndarray, A: torch.Tensor, A_inv: torch.Tensor, b: torch.Tensor, B: torch.Tensor,
             D: torch.Tensor) -> dict:
    """The bound's terms and the loss of ``h_T`` on ``(zt, yt)``, for given transforms (tensors; differentiable).

    ``head_w, head_b``: the source head on standardised source features ``zs``.
    Returns torch scalars ``source_loss, conditional_entropy, wasserstein,
    bound, target_loss`` and floats ``tau, w1, mismatch``.
    """
    import torch
    from torch.nn import functional as F

    n_t, n_s = B.shape
    ys_t = torch.from_numpy(ys)
    prior = torch.bincount(ys_t, minlength=n_s).double() / len(ys)
    w = D[ys_t] / (prior[ys_t] * len(ys))  # (n,) sums to 1
    source_logits = (zs @ A.T @ A_inv.T) @ head_w.T + head_b  # h_S(Ā A z)
    source_loss = (w * F.cross_entropy(source_logits, ys_t, reduction="none")).sum()
    logB = torch.log(B.clamp_min(1e-300))
    conditional_entropy = -(D * (B * torch.where(B > 0, logB, torch.zeros_like(logB))).sum(0)).sum()

    def target_losses(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax((z - b) @ A_inv.T @ head_w.T + head_b, dim=1) @ B.T  # (n, n_t)
        return -torch.log(probs.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-300))

    yt_t = torch.from_numpy(yt)
    losses_t = target_losses(zt, yt_t)
    tau = math.sqrt(2.0) * torch.linalg.matrix_norm(head_w @ A_inv, ord=2)
    mismatch = float(losses_t.max().detach()) / max(float(tau.detach()), 1e-12)
    # transformed source samples (A z + b, t) for every target label t, weighted w_i B[t, y_i]
    moved = zs @ A.T + b
    mass = w[:, None] * B[:, ys_t].T  # (n_s, n_t)
    rows, labels = np.nonzero(mass.detach().numpy() > 1e-12)
    w1 = wasserstein(moved[rows], labels, mass[rows, labels], zt, yt, mismatch)
    wasserstein_term = tau * w1
    bound = source_loss + conditional_entropy + wasserstein_term
    return {"source_loss": source_loss, "conditional_entropy": conditional_entropy, "wasserstein": wasserstein_term,
            "bound": bound, "target_loss": losses_t.mean(), "tau": float(tau.detach()), "w1": float(w1.detach()),
            "mismatch": mismatch}


def _value(t: torch.Tensor) -> float:
    return float(t.detach())


def _standardise(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mu, sd = z.mean(0), z.std(0, unbiased=False).clamp_min(1e-6)
    return (z - mu) / sd, mu, sd


def transfer_bound(
    net: models.TaskNet,
    source: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
    target_test: tuple[torch.Tensor, torch.Tensor],
    spec: BoundSpec,
    seed: int,
) -> dict:
    """The bound on the target loss of ``N_source``'s head transferred through optimised transforms.

    ``source``: the source's train examples (at most ``spec.samples`` drawn
    with ``seed``); ``target``: the target's labelled examples (what the bound
    reads); ``target_test``: its test examples (what the bound is checked
    against). Returns the record values: the bound and its terms on the
    labelled examples, the same transforms evaluated on the test examples
    (``test``: terms, bound and the loss of ``h_T``), the loss of a new linear
    head fitted on the labelled examples (``linear_loss``, test split), τ, the
    setting and the optimisation trace.
    """
    import torch

    from taskdist.nets.linear import fit_linear_head
    from taskdist.nets.models import features
    from taskdist.nets.optim import Adam

    rng = np.random.default_rng(stable_seed(seed, "samples"))
    keep = np.sort(rng.permutation(len(source[1]))[: spec.samples])
    zs_raw = features(net.body, source[0][keep]).double().cpu()
    zt_raw = features(net.body, target[0]).double().cpu()
    ztest_raw = features(net.body, target_test[0]).double().cpu()
    ys, yt, ytest = source[1][keep].numpy(), target[1].numpy(), target_test[1].numpy()
    n_s, n_t = net.n_classes, int(max(yt.max(), ytest.max())) + 1

    zs, mu_s, sd_s = _standardise(zs_raw)
    zt, mu_t, sd_t = _standardise(zt_raw)
    ztest = (ztest_raw - mu_t) / sd_t  # the target's standardisation, from its labelled examples
    head_w = net.head.weight.detach().double().cpu() * sd_s  # h_S on standardised source features
    head_b = net.head.bias.detach().double().cpu() + net.head.weight.detach().double().cpu() @ mu_s
    prior = np.bincount(ys, minlength=n_s) / len(ys)
    if (prior == 0).any():
        raise ValueError(f"the source sample lacks the classes {np.flatnonzero(prior == 0).tolist()}")
    fixed_B = assignment(n_t, n_s, stable_seed(seed, "assignment"))
    tr = Transforms(zs.shape[1], fixed_B, prior, spec.setting)

    def at(start: bool = False) -> dict:
        return {"A": tr.A, "A_inv": tr.A_inv, "b": tr.b, "B": tr.B(start), "D": tr.D(start)}

    start = bound_terms_at(head_w, head_b, zs, ys, zt, yt, **at(start=True))
    best = {"bound": _value(start["bound"]), "epoch": 0, "state": tr.state(start=True)}
    trace = [{"epoch": 0, "bound": _value(start["bound"]), **{k: _value(start[k]) for k in TERMS}}]
    groups = {"map": spec.lr, "prior": spec.lr_prior}
    params = tr.params()
    opts = [Adam([p for p, g in params if g == name], lr=lr) for name, lr in groups.items()
            if any(g == name for _, g in params)]
    eye = torch.eye(zs.shape[1], dtype=torch.float64)
    progress = Progress("bound", spec.epochs if params else 0, "epochs", logger=log)
    for epoch in range(1, spec.epochs + 1 if params else 1):
        terms = bound_terms_at(head_w, head_b, zs, ys, zt, yt, **at())
        penalty = ((tr.A @ tr.A_inv - eye) ** 2).sum() + ((tr.A_inv @ tr.A - eye) ** 2).sum()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        (terms["bound"] + spec.penalty * penalty).backward()
        value = _value(terms["bound"])
        trace.append({"epoch": epoch, "bound": value, **{k: _value(terms[k]) for k in TERMS},
                      "penalty": _value(penalty)})
        if value < best["bound"]:
            best = {"bound": value, "epoch": epoch, "state": tr.state()}
        for opt in opts:
            opt.step()
        progress.advance()
    progress.end()
    # the best iterate, on the labelled examples and on the test split
    state = {k: torch.from_numpy(v) for k, v in best["state"].items()}
    labelled = bound_terms_at(head_w, head_b, zs, ys, zt, yt, **state)
    test = bound_terms_at(head_w, head_b, zs, ys, ztest, ytest, **state)
    head, _ = fit_linear_head(zt_raw.float(), target[1], n_t, l2=spec.linear_l2)
    with torch.no_grad():
        linear_loss = float(torch.nn.functional.cross_entropy(head(ztest_raw.float()), target_test[1]))

    def terms_of(ev: dict) -> dict:
        return {**{k: _value(ev[k]) for k in (*TERMS, "bound", "target_loss")}, "tau": ev["tau"], "w1": ev["w1"],
                "mismatch": ev["mismatch"]}

    log.info("%s bound %.4f (best epoch %d of %d): source loss %.4f + H(Y_T|Y_S) %.4f + tau W1 %.4f; "
             "loss of h_T %.4f (test %.4f, bound on test %.4f); new linear head %.4f", spec.setting,
             _value(labelled["bound"]), best["epoch"], spec.epochs, *(_value(labelled[k]) for k in TERMS),
             _value(labelled["target_loss"]), _value(test["target_loss"]), _value(test["bound"]), linear_loss)
    return {"bound": _value(labelled["bound"]), "setting": spec.setting, "terms": terms_of(labelled),
            "test": terms_of(test), "linear_loss": linear_loss, "best_epoch": best["epoch"], "trace": trace,
            "label_map": best["state"]["B"].tolist(), "prior": best["state"]["D"].tolist(),
            "samples": {"source": len(ys), "target": len(yt), "test": len(ytest)}}
