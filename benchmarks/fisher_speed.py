"""Speed of the diagonal Fisher pass against a plain forward+backward pass.

Builds the default task network (``DEFAULT_NETWORK``, 1 channel, 28x28 inputs, 10 classes) on
random data and times, side by side and at the same batch size:

- a plain training-style pass: forward, mean cross-entropy, ``backward()``;
- :func:`taskdist.methods.fisher.fisher_diagonal` for each estimator (``mc`` with one draw);
- the ``torch.func`` engine that :func:`fisher_diagonal` falls back on for models the fast
  path does not cover;
- a per-sample Python loop of ``torch.autograd.grad`` (the brute-force reference), on a
  subset of the samples, scaled to ``N``.

Each time is the median (and the min) over ``--repeats`` interleaved runs after one warm-up
run; the load average is printed because other jobs on the machine distort the times. Target: the
empirical Fisher pass within 3x the plain pass.

Usage::

    python benchmarks/fisher_speed.py --n 2048 --batch-size 128 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.config import defaults
from taskdist.methods.fisher import ESTIMATORS, _fisher_diagonal, fisher_diagonal
from taskdist.nets.models import ArchSpec, TaskNet, build
from taskdist.specs import from_params

DEFAULT_NETWORK = from_params(ArchSpec, defaults("network"))  # the default workflow's task network


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2048, help="number of samples")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--loop-n", type=int, default=128, help="samples timed in the per-sample loop")
    args = parser.parse_args(argv)
    for name in ("n", "batch_size", "repeats", "threads", "loop_n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def wall_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each function: one untimed warm-up each, then ``repeats`` rounds that
    run every function once in turn (so background load hits all methods alike)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def plain_pass(model: TaskNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    """Forward, mean cross-entropy and backward over all samples, batch by batch."""
    for start in range(0, images.shape[0], batch_size):
        model.zero_grad(set_to_none=True)
        logits = model(images[start : start + batch_size])  # (B, C)
        F.cross_entropy(logits, labels[start : start + batch_size]).backward()
    model.zero_grad(set_to_none=True)


def loop_pass(model: TaskNet, images: torch.Tensor, labels: torch.Tensor, estimator: str) -> None:
    """Brute force: one ``autograd.grad`` per sample (per class for ``exact``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    acc = [torch.zeros_like(p) for p in params]
    gen = torch.Generator().manual_seed(0)
    for i in range(images.shape[0]):
        log_p = torch.log_softmax(model(images[i : i + 1]), dim=-1)[0]  # (C,)
        probs = log_p.detach().exp()  # (C,)
        if estimator == "exact":
            terms = [(c, probs[c]) for c in range(probs.shape[0])]
        elif estimator == "mc":
            terms = [(int(torch.multinomial(probs, 1, generator=gen)), 1.0)]
        else:
            terms = [(int(labels[i]), 1.0)]
        for c, weight in terms:
            grads = torch.autograd.grad(log_p[c], params, retain_graph=True)
            for a, g in zip(acc, grads, strict=True):
                a.add_(weight * g.square())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    n_classes = 10
    model = build(DEFAULT_NETWORK, in_channels=1, n_classes=n_classes, seed=0).eval()
    images = torch.randn((args.n, 1, 28, 28), generator=gen)  # (N, 1, 28, 28)
    labels = torch.randint(0, n_classes, (args.n,), generator=gen)  # (N,)
    n_params = sum(p.numel() for p in model.parameters())
    loop_n = min(args.loop_n, args.n)
    bs = args.batch_size

    def fim(est: str, engine: str) -> Callable[[], object]:
        def run() -> object:
            return _fisher_diagonal(
                model,
                images,
                labels,
                estimator=est,
                granularity="parameter",
                batch_size=bs,
                seed=0,
                mc_samples=1,
                device="cpu",
                engine=engine,
            )

        return run

    fns: dict[str, Callable[[], object]] = {
        "plain forward+backward (mean CE)": lambda: plain_pass(model, images, labels, bs)
    }
    for est in ESTIMATORS:
        fns[f"FIM {est}"] = lambda est=est: fisher_diagonal(
            model, images, labels, estimator=est, batch_size=bs
        )
    for est in ESTIMATORS:
        fns[f"FIM {est} [torch.func engine]"] = fim(est, "func")
    loops = {
        f"per-sample loop {est} (scaled)": lambda est=est: loop_pass(
            model, images[:loop_n], labels[:loop_n], est
        )
        for est in ESTIMATORS
    }
    load_before = os.getloadavg()[0]
    times = wall_times(fns, args.repeats)
    for name, ts in wall_times(loops, args.repeats).items():
        times[name] = [t * args.n / loop_n for t in ts]
    load_after = os.getloadavg()[0]
    plain = statistics.median(times["plain forward+backward (mean CE)"])
    plain_min = min(times["plain forward+backward (mean CE)"])

    print(
        f"# fisher_speed: TaskNet(DEFAULT_NETWORK) {n_params} params, 1x28x28, {n_classes} classes; "
        f"N={args.n}, batch_size={bs}, threads={args.threads}; torch {torch.__version__}"
    )
    print(
        f"# median (and min) of {args.repeats} interleaved rounds after one warm-up run of each method; "
        f"1-min load average {load_before:.2f} before, {load_after:.2f} after"
    )
    print(f"# per-sample loop timed on the first {loop_n} samples, scaled by {args.n}/{loop_n}")
    width = max(len(name) for name in times)
    header = ("median [s]", "us/sample", "x plain", "min [s]", "x plain")
    print(f"{'method':<{width}}  " + "  ".join(f"{h:>10}" for h in header))
    for name, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        print(
            f"{name:<{width}}  {med:10.3f}  {1e6 * med / args.n:10.1f}  {med / plain:10.2f}  "
            f"{low:10.3f}  {low / plain_min:10.2f}"
        )


if __name__ == "__main__":
    main()
