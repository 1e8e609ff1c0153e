"""The converged linear head: taskdist's Newton-CG against scipy's L-BFGS-B on the same problems, side by side.

Every Fisher pair job and every linear-transfer replicate fits an L2 softmax
regression on frozen features (``taskdist.nets.linear.fit_linear_head``). This runs
that solver and scipy's L-BFGS-B (what taskdist used before) on the same
problems -- the default network's feature width (64), class counts and sample
sizes of the default experiment -- with one torch thread, as a job has, and
prints CPU milliseconds per fit, their ratio and the final losses (the problem
is strictly convex, so both must reach the same minimum). It also measures what
a job process pays to ``import scipy.optimize``, which the Newton solver does
not need.

    python benchmarks/linear_head.py --repeat 5

Target: Newton-CG at least 3x faster per fit, the same loss to 1e-8.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.nets.linear import fit_linear_head

PROBLEMS = [(60, 3), (120, 2), (200, 10), (500, 10)]  # (examples, classes): budgets and Fisher samples
WIDTH = 64  # the default network's feature layer


def lbfgs_loss(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float = 0.1, tol: float = 1e-6) -> float:
    """The same objective minimised by scipy's L-BFGS-B from zero, on the same scaled coordinates."""
    from scipy.optimize import minimize

    x = x.double()
    mu, s = x.mean(0), (x.var(0, correction=0) + l2).sqrt()
    z, pen = (x - mu) / s, l2 / s.square()
    n_w = n_classes * x.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = torch.from_numpy(theta).requires_grad_(True)
        v, c = params[:n_w].view(n_classes, -1), params[n_w:]
        loss = F.cross_entropy(z @ v.T + c, y) + 0.5 * (pen * v.square()).sum()
        (grad,) = torch.autograd.grad(loss, params)
        return loss.item(), grad.numpy()

    inner_tol = tol / (1.0 + s.max().item() + mu.abs().max().item())
    with torch.enable_grad():
        result = minimize(objective, np.zeros(n_w + n_classes), jac=True, method="L-BFGS-B",
                          options={"maxiter": 1000, "maxcor": 20, "gtol": inner_tol, "ftol": 0.0})
    return float(result.fun)


def cpu_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def import_seconds(module: str, repeat: int) -> float:
    """Median seconds a fresh interpreter that has torch takes to import ``module``."""
    code = f"import torch, time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
            for _ in range(repeat)]
    return statistics.median(float(r.stdout) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"{'N':>5} {'C':>3} {'newton ms':>10} {'lbfgs ms':>9} {'ratio':>6} {'loss difference':>16}")
    for n, c in PROBLEMS:
        x = torch.randn(n, WIDTH, generator=gen).relu() * 3  # nonnegative, uncentred, like ReLU features
        y = torch.arange(n) % c  # every class present
        x[torch.arange(n), y % WIDTH] += 2.0  # some signal
        newton = cpu_ms(lambda x=x, y=y, c=c: fit_linear_head(x, y, c), args.repeat)
        lbfgs = cpu_ms(lambda x=x, y=y, c=c: lbfgs_loss(x, y, c), args.repeat)
        diff = abs(fit_linear_head(x, y, c)[1]["loss"] - lbfgs_loss(x, y, c))
        print(f"{n:5d} {c:3d} {newton:10.1f} {lbfgs:9.1f} {lbfgs / newton:6.1f} {diff:16.2e}")
    print(f"import scipy.optimize in a fresh job process: {import_seconds('scipy.optimize', args.repeat):.2f} s")


if __name__ == "__main__":
    main()
