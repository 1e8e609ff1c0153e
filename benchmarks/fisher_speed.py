"""Speed of the per-sample Fisher against a plain forward+backward pass, per architecture.

For each architecture the README lists (the small CNN, resnet18/34/50, vgg16, densenet121,
mobilenet_v3_small, efficientnet_b0), on random 32x32 RGB images with 10 classes, random weights
(BatchNorm running statistics taken from a few random batches, as a trained network would have them),
eval mode and the head frozen as in the Fisher pair jobs, this times, side by side in one process:

- ``plain``: forward, mean cross-entropy, ``backward()`` (the unit of the ratios);
- ``hooks``: :func:`taskdist.methods.fisher.fisher_diagonal`'s hook engine, per estimator
  (``mc`` with one draw per sample);
- ``func``: the ``torch.func`` engine (the fallback), on ``--func-n`` samples;
- ``backpack``: BackPACK's ``SumGradSquared`` (empirical), ``DiagGGNMC`` (mc, one draw) and
  ``DiagGGNExact`` (exact) where BackPACK is importable and runs on the model (torchvision's
  in-place patterns are rewritten by its ``use_converter``); its failure is printed otherwise.

Times are process CPU seconds per sample (one thread: ``torch.set_num_threads(1)``, and glibc's ``malloc``
keeping freed memory as workflow jobs do: :func:`taskdist.runtime.keep_freed_memory`), the median of
``--repeats`` interleaved rounds after one warm-up run of each; the 1-minute load average is printed
before and after. Targets (issue 24): hooks empirical and mc <= 2.5x plain, exact <= 10x.

    nice -n 10 python benchmarks/fisher_speed.py                      # every architecture
    python benchmarks/fisher_speed.py --arch cnn resnet18 --repeats 5
    PYTHONPATH=/path/to/backpack python benchmarks/fisher_speed.py    # with BackPACK beside
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
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.config import defaults
from taskdist.methods.fisher import ESTIMATORS, _fisher_diagonal
from taskdist.nets.models import TaskNet, build
from taskdist.runtime import keep_freed_memory
from taskdist.specs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec, BackboneSpec, from_params

ARCHS = ("cnn", "resnet18", "resnet34", "resnet50", "vgg16", "densenet121", "mobilenet_v3_small", "efficientnet_b0")
N_CLASSES, SIZE = 10, 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--n", type=int, default=64, help="samples per hooks / plain / backpack run")
    parser.add_argument("--func-n", type=int, default=8, help="samples per torch.func run")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--no-func", action="store_true", help="skip the torch.func engine")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc settings alone (jobs keep freed memory: runtime.keep_freed_memory)")
    args = parser.parse_args(argv)
    for name in ("n", "func_n", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def network(arch: str) -> TaskNet:
    """The task network of ``arch`` (3 channels, 10 classes), BatchNorm statistics of random batches, eval mode,
    head frozen."""
    if arch == "cnn":
        spec = from_params(ArchSpec, defaults("network"))
    else:
        spec = BackboneSpec(arch, None, IMAGENET_MEAN, IMAGENET_STD)
    net = build(spec, in_channels=3, n_classes=N_CLASSES, seed=0)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a cumulative average
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(2):
            net(torch.rand(32, 3, SIZE, SIZE, generator=gen) * 2 - 1)
    net.eval()
    net.head.requires_grad_(False)
    return net


def plain_pass(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    """Forward, mean cross-entropy and backward over all samples, batch by batch."""
    for start in range(0, images.shape[0], batch_size):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size]).backward()
    model.zero_grad(set_to_none=True)


def backpack_runs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int):
    """``{estimator: run}`` with BackPACK, or the reason it does not run (str)."""
    try:
        import backpack
        from backpack.extensions import DiagGGNExact, DiagGGNMC, SumGradSquared
    except ImportError as e:
        return f"not installed ({e.name})"
    try:
        if isinstance(model, TaskNet):  # the same network as modules BackPACK knows (ConvBody flattens in forward)
            body = model.body
            model = nn.Sequential(*body.features, body.pool, nn.Flatten(), body.fc, nn.ReLU(), model.head)
        extended = backpack.extend(model, use_converter=not isinstance(model, nn.Sequential))
        loss_fn = backpack.extend(nn.CrossEntropyLoss(reduction="sum"))
        extension = {"empirical": SumGradSquared, "mc": lambda: DiagGGNMC(mc_samples=1), "exact": DiagGGNExact}

        def make(estimator: str) -> Callable[[], object]:
            def run() -> object:
                for start in range(0, images.shape[0], batch_size):
                    extended.zero_grad(set_to_none=True)
                    loss = loss_fn(extended(images[start : start + batch_size]), labels[start : start + batch_size])
                    with backpack.backpack(extension[estimator]()):
                        loss.backward()
                return None

            return run

        runs = {est: make(est) for est in ESTIMATORS}
        for run in runs.values():
            run()  # fails here if BackPACK does not support a module
        return runs
    except Exception as e:  # noqa: BLE001 - a benchmark reports why the library it compares with does not run
        return f"fails: {type(e).__name__}: {str(e).splitlines()[0][:90] if str(e) else ''}"


def cpu_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Process CPU seconds of each function: a warm-up each, then ``repeats`` rounds running each once in turn."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return times


def measure(arch: str, args: argparse.Namespace) -> list[str]:
    net = network(arch)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand((args.n, 3, SIZE, SIZE), generator=gen) * 2 - 1  # (N, 3, 32, 32)
    labels = torch.randint(0, N_CLASSES, (args.n,), generator=gen)  # (N,)
    func_n = min(args.func_n, args.n)

    def fisher(est: str, engine: str, n: int) -> Callable[[], object]:
        return lambda: _fisher_diagonal(
            net,
            images[:n],
            labels[:n],
            estimator=est,
            granularity="parameter",
            batch_size=args.batch_size,
            seed=0,
            mc_samples=1,
            device="cpu",
            engine=engine,
        )

    fns: dict[str, Callable[[], object]] = {"plain": lambda: plain_pass(net, images, labels, args.batch_size)}
    counts = {"plain": args.n}
    for est in ESTIMATORS:
        fns[f"hooks {est}"], counts[f"hooks {est}"] = fisher(est, "hooks", args.n), args.n
        if not args.no_func:
            fns[f"func {est}"], counts[f"func {est}"] = fisher(est, "func", func_n), func_n
    times = cpu_times(fns, args.repeats)
    bp = backpack_runs(network(arch), images, labels, args.batch_size)
    if isinstance(bp, dict):
        for name, ts in cpu_times({f"backpack {e}": run for e, run in bp.items()}, args.repeats).items():
            times[name], counts[name] = ts, args.n
    per_sample = {name: statistics.median(ts) / counts[name] for name, ts in times.items()}
    plain = per_sample["plain"]
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    rows = []
    for est in ESTIMATORS:
        cells = [arch if est == ESTIMATORS[0] else "", f"{n_params / 1e6:.2f} M" if est == ESTIMATORS[0] else "", est]
        for engine in ("hooks", "func", "backpack"):
            value = per_sample.get(f"{engine} {est}")
            cells.append("—" if value is None else f"{value:.4f} ({value / plain:.1f}×)")
        cells.append(f"{plain:.4f}" if est == ESTIMATORS[0] else "")
        rows.append("| " + " | ".join(cells) + " |")
    if isinstance(bp, str):
        rows.append(f"<!-- {arch}: BackPACK {bp} -->")
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    kept = False if args.default_malloc else keep_freed_memory()  # as every workflow job runs
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    print(
        f"# fisher_speed: 3x{SIZE}x{SIZE} random images, {N_CLASSES} classes, eval mode, head frozen; "
        f"hooks/plain/BackPACK on {args.n} samples, torch.func on {min(args.func_n, args.n)}; batch size "
        f"{args.batch_size}; one thread; torch {torch.__version__}; freed memory kept for reuse: {kept}"
    )
    print(f"# CPU-s per sample, median of {args.repeats} interleaved rounds after a warm-up (× plain forward+backward)")
    print("| network | trainable | estimator | hooks | torch.func | BackPACK | plain fwd+bwd |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for arch in args.arch:
        for row in measure(arch, args):
            print(row, flush=True)
    print(
        f"# 1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"{time.monotonic() - began:.0f} s wall"
    )


if __name__ == "__main__":
    main()
