"""A converged, deterministic linear classifier on fixed features (L2-regularised softmax regression).

Every place where a frozen body meets a new task needs a linear head fitted on the body's
features: the Fisher Task Distance (``F_{a,b}`` is the body's Fisher under a head fitted on
``b``'s labels) and linear transfer (body frozen, new head on a small labelled budget).
A few epochs of a stochastic optimiser from a random initialisation leave that head
wherever the seed, the batch order and the label order put it; the Fisher of the body then
inherits that noise. The problem is convex, so it can be solved instead:
:func:`fit_linear_head` minimises the regularised multinomial log-loss to a gradient
tolerance with Newton's method (conjugate-gradient steps) in float64 from a zero initialisation.
Its minimiser does not depend on any seed, and relabelling the classes permutes the rows of
the solution.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from taskdist.checks import check_int, check_positive
from taskdist.nets.models import features

__all__ = ["fit_linear_head", "refit_head"]


def fit_linear_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    *,
    l2: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> tuple[nn.Linear, dict]:
    r"""Fit a linear softmax classifier on fixed features to convergence.

    Minimises, over ``W`` (``n_classes x d``) and ``b`` (``n_classes``),

    .. math::

        L(W, b) = -\frac{1}{N} \sum_{i=1}^{N} \log \operatorname{softmax}(W x_i + b)_{y_i}
                  + \frac{\lambda}{2} \lVert W \rVert_F^2 ,

    the mean multinomial log-loss plus an L2 penalty ``lambda = l2`` on the weights (the bias
    is not penalised). ``L`` is strictly convex in ``W``; in ``b`` it is invariant to adding
    the same constant to every entry, and the returned ``b`` is the minimiser with
    ``sum_c b_c = 0``. It is the objective of scikit-learn's
    ``LogisticRegression(C=1 / (l2 * N))`` (multinomial, ``lbfgs``), divided by ``C N``.

    The solver is Newton's method with conjugate-gradient steps on exact Hessian-vector products
    and a backtracking line search (a few dozen iterations, and no scipy import, which costs a job
    process about a second), run in float64 from ``W = 0, b = 0`` until the largest absolute
    entry of the gradient of ``L`` is at most ``tol``, or ``max_iter`` iterations, or no further
    decrease is possible. It works
    on centred, scaled features ``z = (x - mu) / s`` (per-feature mean ``mu`` and
    ``s = sqrt(var + l2)``), an exact reparametrisation (``V = W diag(s)``, ``c = b + W mu``, penalty
    ``sum_j ||V_j||^2 / s_j^2``) that leaves the minimiser unchanged and only improves the
    conditioning. The result depends on no seed, and permuting the class labels permutes
    the rows of ``W`` and ``b`` (up to float rounding).

    Parameters
    ----------
    features
        Floating point tensor ``(N, d)``, finite, ``N >= 1``.
    labels
        Integer tensor ``(N,)`` with values in ``[0, n_classes)``; every class must occur
        (with an unpenalised bias, an absent class has no minimiser: its bias runs to minus
        infinity).
    n_classes
        Number of classes ``C >= 2``: the head's output size.
    l2
        ``lambda > 0``, the weight penalty (per example: the loss is a mean over ``N``). The
        default 0.1 is what ``benchmarks/ftd_noise.py`` supports for the Fisher Task Distance
        on the default network: on its features it gives the refitted head about the training
        loss of the network's own head; smaller values make the head overconfident and the
        body's empirical Fisher rest on a handful of samples.
    max_iter
        Maximum number of Newton iterations, ``>= 1``.
    tol
        Gradient tolerance ``> 0`` on ``max |grad L|`` (over the entries of ``W`` and ``b``).

    Returns
    -------
    head : torch.nn.Linear
        ``nn.Linear(d, n_classes)`` holding ``W`` and ``b``, in the dtype and on the device
        of ``features``.
    info : dict
        Where the solver stopped and why: ``iterations`` (Newton iterations),
        ``evaluations`` (objective evaluations), ``loss`` (``L`` at the solution, float64),
        ``grad_norm`` (``max |grad L|`` there), ``converged`` (``grad_norm <= tol``) and
        ``reason`` (``"tolerance"``, ``"max_iter"`` or ``"stalled"``: the line search or the
        step could not decrease ``L`` further in float64).

    Raises
    ------
    TypeError
        If ``features`` or ``labels`` is not a tensor of the right kind, or an integer
        argument is not an int.
    ValueError
        For shapes that do not match, non-finite features, labels outside
        ``[0, n_classes)``, a class without examples, ``n_classes < 2``, ``l2 <= 0``,
        ``max_iter < 1`` or ``tol <= 0``.

    References
    ----------
    .. [1] J. Nocedal, S. J. Wright, "Numerical Optimization", 2nd ed., Springer 2006
       (line search Newton-CG, ch. 7.1; backtracking, ch. 3.1).

    Examples
    --------
    >>> head, info = fit_linear_head(net.body(x), y, n_classes=5, l2=0.1)
    >>> info["converged"], info["reason"]
    (True, 'tolerance')
    """
    _validate(features, labels, n_classes, l2, max_iter, tol)
    x = features.detach().to(torch.float64)  # (N, d)
    y = labels.detach().to(device=x.device, dtype=torch.long)  # (N,)
    # Solve in scaled, centred coordinates z = (x - mu) / s, an exact reparametrisation of the same problem:
    # W x + b = V z + c with V = W diag(s), c = b + W mu, and ||W||^2 = sum_j ||V_j||^2 / s_j^2. It changes only
    # the conditioning, not the minimiser: raw features are far from centred (hundreds of iterations fewer), and
    # s_j^2 = var(x_j) + l2 brings the curvature of every V_j, at most var(x_j) / s_j^2 + l2 / s_j^2 <= 1, to a
    # common scale (near-constant features do not get a huge penalty weight l2 / var(x_j)).
    mu = x.mean(0)  # (d,)
    s = (x.var(0, correction=0) + l2).sqrt()  # (d,)
    z = torch.cat([(x - mu) / s, torch.ones_like(x[:, :1])], 1)  # (N, d + 1): scaled features and the bias input
    penalty = torch.cat([l2 / s.square(), torch.zeros_like(s[:1])])  # (d + 1,): none on the bias
    # grad_W = grad_V diag(s) + grad_c mu^T and grad_b = grad_c: this tolerance on (grad_V, grad_c) bounds grad_W
    inner_tol = tol / (1.0 + s.max().item() + mu.abs().max().item())
    theta, iterations, evaluations = _newton_cg(z, y, n_classes, penalty, max_iter, inner_tol)
    v, c = theta[:, :-1], theta[:, -1]  # (C, d), (C,)
    with torch.enable_grad():
        weight = (v / s).requires_grad_(True)  # (C, d)
        bias = (c - weight.detach() @ mu).requires_grad_(True)  # (C,)
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.square().sum()  # L in the original form
        grad_w, grad_b = torch.autograd.grad(loss, [weight, bias])
    grad_norm = max(grad_w.abs().max().item(), grad_b.abs().max().item())
    converged = grad_norm <= tol
    reason = "tolerance" if converged else ("max_iter" if iterations >= max_iter else "stalled")

    head = nn.Linear(x.shape[1], n_classes, device=features.device, dtype=features.dtype)
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias - bias.mean())  # the minimiser with sum_c b_c = 0
    info = {
        "iterations": iterations,
        "evaluations": evaluations,
        "loss": loss.item(),
        "grad_norm": grad_norm,
        "converged": converged,
        "reason": reason,
    }
    return head, info


@torch.no_grad()
def _newton_cg(
    z: torch.Tensor, y: torch.Tensor, n_classes: int, penalty: torch.Tensor, max_iter: int, tol: float
) -> tuple[torch.Tensor, int, int]:
    """Minimise ``CE(z theta^T, y) + sum_j penalty_j ||theta_{:, j}||^2 / 2`` over ``theta`` (``C x (d + 1)``).

    Newton's method with the Newton system solved by conjugate gradients on exact Hessian-vector
    products (truncated Newton, as scikit-learn's ``newton-cg``), and a backtracking (Armijo) line
    search; from ``theta = 0`` until ``max |gradient| <= tol``. Returns ``theta``, the number of
    Newton iterations and of objective evaluations. The last column of ``z`` is the constant bias
    input, unpenalised: the loss is flat along adding one constant to every bias, a direction the
    gradient never has, so the iterates keep ``sum_c bias_c = 0``.
    """
    n = z.shape[0]
    onehot = F.one_hot(y, n_classes).to(z.dtype)  # (N, C)
    theta = torch.zeros(n_classes, z.shape[1], dtype=z.dtype, device=z.device)

    def objective(t: torch.Tensor) -> tuple[float, torch.Tensor]:
        logits = z @ t.T  # (N, C)
        loss = (torch.logsumexp(logits, 1) - (logits * onehot).sum(1)).mean() + 0.5 * (penalty * t.square()).sum()
        return loss.item(), logits

    loss, logits = objective(theta)
    evaluations, iteration = 1, 0
    while iteration < max_iter:
        p = torch.softmax(logits, 1)  # (N, C)
        grad = (p - onehot).T @ z / n + penalty * theta  # (C, d + 1)
        if grad.abs().max().item() <= tol:
            break
        iteration += 1

        def hessian_times(u: torch.Tensor, p: torch.Tensor = p) -> torch.Tensor:
            su = z @ u.T  # (N, C): the change of the logits along u
            return (p * (su - (p * su).sum(1, keepdim=True))).T @ z / n + penalty * u

        step = _conjugate_gradients(hessian_times, -grad, rtol=min(0.5, grad.norm().item() ** 0.5))
        slope = (grad * step).sum().item()
        t = 1.0
        for _ in range(40):  # Armijo backtracking; a Newton step on this convex loss is usually taken whole
            candidate = theta + t * step
            new_loss, new_logits = objective(candidate)
            evaluations += 1
            if new_loss <= loss + 1e-4 * t * slope:
                break
            t /= 2
        else:
            break  # no decrease is possible in float64: stalled
        theta, loss, logits = candidate, new_loss, new_logits
    return theta, iteration, evaluations


def _conjugate_gradients(apply, b: torch.Tensor, rtol: float, max_steps: int = 200) -> torch.Tensor:
    """Approximately solve ``apply(x) = b`` (``apply`` symmetric positive definite) until ``||r|| <= rtol ||b||``."""
    x = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    rr = (r * r).sum()
    stop = (rtol * b.norm()) ** 2
    for _ in range(max_steps):
        if rr <= stop:
            break
        ad = apply(d)
        alpha = rr / (d * ad).sum()
        x += alpha * d
        r -= alpha * ad
        rr, rr_old = (r * r).sum(), rr
        d = r + (rr / rr_old) * d
    return x


def refit_head(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    l2: float = 0.1,
    max_iter: int = 1000,
    tol: float = 1e-6,
    batch_size: int = 512,
) -> dict:
    """Replace ``model.head`` by the converged head of :func:`fit_linear_head` on ``model.body``'s features.

    The body is run once in eval mode over ``images`` (in batches of ``batch_size``); its
    features ``(N, d)`` and ``labels`` define the problem, ``n_classes`` is
    ``model.head.out_features``. The head's parameters are overwritten in place (their
    ``requires_grad`` flags are kept); the model is left in eval mode.

    Returns
    -------
    dict
        The ``info`` dict of :func:`fit_linear_head`.
    """
    for name in ("body", "head"):
        if not isinstance(getattr(model, name, None), nn.Module):
            raise TypeError(f"model must have nn.Module attributes body and head, {name!r} is missing")
    if not isinstance(model.head, nn.Linear):
        raise TypeError(f"model.head must be an nn.Linear, got {type(model.head).__name__}")
    check_int("batch_size", batch_size, minimum=1)
    model.eval()
    feats = features(model.body, images, batch_size)  # (N, d)
    head, info = fit_linear_head(feats, labels, model.head.out_features, l2=l2, max_iter=max_iter, tol=tol)
    with torch.no_grad():
        model.head.weight.copy_(head.weight)
        model.head.bias.copy_(head.bias)
    return info


def _validate(features: object, labels: object, n_classes: object, l2: object, max_iter: object, tol: object) -> None:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"features must be a floating point tensor, got dtype {features.dtype}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    check_int("n_classes", n_classes, minimum=2)
    check_int("max_iter", max_iter, minimum=1)
    check_positive("l2", l2)
    check_positive("tol", tol)
    if features.dim() != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"features must have shape (N, d) with N, d >= 1, got {tuple(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must have shape ({features.shape[0]},) to match features, got {tuple(labels.shape)}")
    if not torch.isfinite(features).all():
        raise ValueError("features must be finite, found NaN or inf")
    low, high = labels.min().item(), labels.max().item()
    if low < 0 or high >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), found values in [{low}, {high}]")
    counts = torch.bincount(labels.detach().cpu().long(), minlength=n_classes)
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        raise ValueError(
            f"every class in [0, {n_classes}) needs at least one example (the bias is unpenalised), "
            f"classes {missing} have none"
        )
