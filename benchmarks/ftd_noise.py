"""Noise floor of the Fisher Task Distance and whether a relabelled copy of a task is its nearest neighbour.

Runs in-process (no Snakemake) on the embedded MNIST digits (``mnist5k``, 500 per class).
Every image is assigned once to a train pool (400 per class) or a test pool (100 per
class); each task draws its train examples from the first and its test examples from the
second, so no test image is ever a train image. Tasks, 180 train + 60 test per label like
the default config (the parity task: 90 + 30 per digit):

- ``a``: digits 0-4 as labels 0-4;
- ``a_perm``: the very images of ``a``, labels in reversed order (digit d -> label 4-d);
- ``a_relabel``: digits 0-4, reversed label order, drawn with another seed;
- ``a_resample``: digits 0-4 as labels 0-4, drawn with another seed (the noise floor);
- ``b``: digits 5-9 (disjoint classes); ``c``: parity of all ten digits; ``all10``: the ten-way
  task (90 + 30 per digit), which contains ``a``'s classes and is the hardest competitor.

The task network ``N_a`` is trained like the default workflow (``DEFAULT_NETWORK``, 15 Adam
epochs, batch 64, lr 0.002). ``F_{a,x}`` is computed as :func:`taskdist.stages.pair_fisher`
does (body of ``N_a``, head refitted on ``x``'s train labels, Fisher of the body over at
most ``samples`` train examples of ``x``), with the seeds of a workflow pair job, and
``d(a -> x) = FTD(F_{a,a}, F_{a,x})``; ``a#2`` is ``a`` itself with another pair seed.
Every cell of the table is the mean over ``--repeats`` seed families (``F_{a,a}`` and
``F_{a,x}`` both re-drawn); ``ratio`` is median(d(a->b), d(a->c)) / d(a->a_resample) and
``relabel nearest`` counts the seed families in which ``a_relabel`` is nearer than ``b``,
``c`` and ``all10``.

Candidate settings (rows): the head fit (``adam10`` = today's 10 Adam epochs lr 0.01 batch
64 from a seeded init; ``adam100``; ``lbfgs(l2)`` = :func:`taskdist.nets.linear.fit_linear_head`,
converged, seed-free; ``own`` = ``N_a``'s own head wherever ``x`` has ``a``'s labels (``a``,
``a#2``, ``a_resample``), ``adam10`` elsewhere), the estimator (empirical / exact), the
granularity (parameter / filter), the number of Fisher samples (500 / all 900) and the images
the Fisher is taken over (the train split, as today, or the task's held-out test split, 300 images).
A filter-granularity Fisher is the per-filter mean of the parameter-granularity one (as
``fisher_diagonal(granularity="filter")`` computes it), so it is derived, not recomputed.

A second table explains the rows: for each head fit, the head's mean training loss on
``a`` and on ``a_perm`` and the mean total-variation distance between the class
probabilities the two heads give on ``a``'s images (after undoing the label permutation);
a head that depends only on the data has TV 0. A third table gives the cost of the head
fit within a pair job and the one-time cost a fresh job process pays for importing
``torch.optim`` (``torch._dynamo``), which :class:`torch.optim.LBFGS` needs.

Usage::

    python benchmarks/ftd_noise.py            # about 3 minutes on one idle core
    python benchmarks/ftd_noise.py --repeats 1 --quick
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.artifacts import vectors
from taskdist.artifacts.dataset import Dataset
from taskdist.config import defaults
from taskdist.data import datasets, tasks
from taskdist.methods import fisher
from taskdist.methods.distances import fisher_task_distance
from taskdist.nets import models, train
from taskdist.nets.linear import refit_head
from taskdist.seeds import stable_seed
from taskdist.specs import ArchSpec, ImageSpec, from_params

DEFAULT_NETWORK = from_params(ArchSpec, defaults("network"))  # the default workflow's task network

TRAIN_POOL, TEST_POOL = 400, 100  # per digit; mnist5k has 500 per digit
COLUMNS = ("a#2", "a_perm", "a_resample", "a_relabel", "b", "c", "all10")


# ------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    name: str
    x_train: torch.Tensor  # (N, 1, 28, 28) in [-1, 1]
    y_train: torch.Tensor  # (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    labels_of_a: bool  # same classes with the same labels as task a


def pools(labels: np.ndarray, seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per digit: (train pool, test pool) of dataset indices, disjoint, fixed once for all tasks."""
    rng = np.random.default_rng(seed)
    out = {}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        out[digit] = (members[:TRAIN_POOL], members[TRAIN_POOL : TRAIN_POOL + TEST_POOL])
    return out


def make_task(
    name: str,
    ds: Dataset,
    pool: dict,
    label_of: dict[int, int],
    n_train: int | dict[int, int],
    n_test: int | dict[int, int],
    seed: int,
    labels_of_a: bool = False,
) -> Task:
    """Draw ``n_train`` / ``n_test`` images (per digit, or a dict digit -> count) of every digit in ``label_of``
    (digit -> task label) from the train / test pools."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "test": []}
    for digit in sorted(label_of):
        for split, count, source in (("train", n_train, pool[digit][0]), ("test", n_test, pool[digit][1])):
            count = count[digit] if isinstance(count, dict) else count
            parts[split].append(np.sort(rng.choice(source, size=count, replace=False)))
    arrays = []
    for split in ("train", "test"):
        index = np.concatenate(parts[split])
        x = torch.from_numpy(ds.images[index]).float().div_(127.5).sub_(1.0)  # (N, 1, 28, 28)
        y = torch.tensor([label_of[int(d)] for d in ds.labels[index]], dtype=torch.long)  # (N,)
        arrays += [x, y]
    return Task(name, *arrays, n_classes=len(set(label_of.values())), labels_of_a=labels_of_a)


def build_tasks(ds: Dataset) -> dict[str, Task]:
    pool = pools(ds.labels, seed=0)
    low, reverse = {d: d for d in range(5)}, {d: 4 - d for d in range(5)}
    a = make_task("a", ds, pool, low, 180, 60, seed=1, labels_of_a=True)
    a_perm = make_task("a_perm", ds, pool, reverse, 180, 60, seed=1)  # same draw as a: same images
    assert torch.equal(a_perm.x_train, a.x_train) and torch.equal(a_perm.y_train, 4 - a.y_train)
    return {
        "a": a,
        "a_perm": a_perm,
        "a_relabel": make_task("a_relabel", ds, pool, reverse, 180, 60, seed=2),
        "a_resample": make_task("a_resample", ds, pool, low, 180, 60, seed=3, labels_of_a=True),
        "b": make_task("b", ds, pool, {d: d - 5 for d in range(5, 10)}, 180, 60, seed=4),
        "c": make_task("c", ds, pool, {d: d % 2 for d in range(10)}, 90, 30, seed=5),
        "all10": make_task("all10", ds, pool, {d: d for d in range(10)}, 90, 30, seed=6),
    }


# ------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Head:
    kind: str  # "adam", "lbfgs" or "own"
    epochs: int = 10  # adam (and own, for tasks with other labels)
    l2: float = 0.0  # lbfgs

    @property
    def label(self) -> str:
        return {"adam": f"adam{self.epochs}", "lbfgs": f"lbfgs l2={self.l2:g}", "own": "own head"}[self.kind]


@dataclass(frozen=True)
class Setting:
    head: Head
    estimator: str = "empirical"
    granularity: str = "parameter"
    samples: int = 500
    split: str = "train"  # images the Fisher is taken over (the head is always fitted on the train split)

    @property
    def label(self) -> str:
        extras = [self.estimator] if self.estimator != "empirical" else []
        extras += [self.granularity] if self.granularity != "parameter" else []
        extras += ["all samples"] if self.samples != 500 else []
        extras += [f"{self.split} images"] if self.split != "train" else []
        return " ".join([self.head.label, *extras])


LBFGS_MAX_ITER, LBFGS_TOL = 1000, 1e-6


def settings(quick: bool) -> list[Setting]:
    adam10, adam100, own = Head("adam", 10), Head("adam", 100), Head("own")
    lbfgs = {l2: Head("lbfgs", l2=l2) for l2 in (1e-3, 1e-2, 1e-1, 1.0)}
    if quick:
        return [Setting(adam10), Setting(lbfgs[1e-1])]
    rows = [
        Setting(adam10),
        Setting(adam10, samples=10**9),
        Setting(adam10, estimator="exact"),
        Setting(adam10, granularity="filter"),
        Setting(adam100),
        Setting(own),
        *(Setting(h) for h in lbfgs.values()),
    ]
    best = lbfgs[1e-1]
    rows += [
        Setting(best, samples=10**9),
        Setting(best, estimator="exact"),
        Setting(best, estimator="exact", samples=10**9),
        Setting(best, granularity="filter"),
        Setting(best, estimator="exact", granularity="filter"),
        Setting(best, split="test"),
    ]
    return rows


# ------------------------------------------------------------------------------- the pair computation


def fit_head(model, images, labels, *, epochs: int, batch_size: int, lr: float, seed: int) -> list[dict]:
    """Adam on ``model.head`` only, the body frozen: its features are computed once (eval mode)."""
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        feats = torch.cat([model.body(images[s : s + 512].to(device)) for s in range(0, len(images), 512)])
    return train.fit(model.head, feats, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, name="head")


class Pairs:
    """``F_{a,x}`` as :func:`taskdist.stages.pair_fisher` computes it, with memoised head fits and Fisher passes."""

    def __init__(self, net_a: models.TaskNet, task_set: dict[str, Task]):
        self.net_a, self.tasks = net_a, task_set
        self.heads: dict[tuple, tuple[models.TaskNet, dict]] = {}
        self.diags: dict[tuple, dict[str, torch.Tensor]] = {}
        self.head_seconds: dict[str, list[float]] = {}

    def head(self, head: Head, task: Task, seed: int) -> tuple[models.TaskNet, dict]:
        if head.kind == "own" and not task.labels_of_a:
            head = Head("adam", head.epochs)  # labels differ: today's refitted head
        key = (head, task.name, seed)
        if key not in self.heads:
            start = time.perf_counter()
            info: dict = {}
            if head.kind == "own" and task.labels_of_a:
                net = copy.deepcopy(self.net_a)
            else:
                net = self.net_a.with_new_head(task.n_classes, seed=stable_seed(seed, "head"))
                if head.kind == "lbfgs":
                    info = refit_head(net, task.x_train, task.y_train, l2=head.l2, max_iter=LBFGS_MAX_ITER,
                                      tol=LBFGS_TOL)
                else:
                    fit_head(net, task.x_train, task.y_train, epochs=head.epochs, batch_size=64, lr=0.01,
                             seed=stable_seed(seed, "head-fit"))
            self.head_seconds.setdefault(head.label, []).append(time.perf_counter() - start)
            net.head.requires_grad_(False)
            self.heads[key] = (net.eval(), info)
        return self.heads[key]

    def fisher(self, setting: Setting, task: Task, seed: int) -> np.ndarray:
        key = (setting.head, setting.estimator, setting.samples, setting.split, task.name, seed)
        if key not in self.diags:
            net, _ = self.head(setting.head, task, seed)
            x, y = (task.x_train, task.y_train) if setting.split == "train" else (task.x_test, task.y_test)
            keep = tasks.subsample(len(y), setting.samples, stable_seed(seed, "samples"))
            self.diags[key] = fisher.fisher_diagonal(
                net, x[keep], y[keep], estimator=setting.estimator,
                granularity="parameter", batch_size=128, seed=stable_seed(seed, "fisher"),
            )
        diag = self.diags[key]
        if setting.granularity == "filter":  # exactly what fisher_diagonal(granularity="filter") returns
            diag = {k: v.reshape(v.shape[0] if v.dim() else 1, -1).mean(dim=1) for k, v in diag.items()}
        return vectors.flat(diag)

    def distances(self, setting: Setting, replicate: int) -> dict[str, float]:
        """``d(a -> x)`` for every column, with the pair seeds of one seed family."""
        def seed(target: str) -> int:
            return stable_seed(replicate, "fisher", "a", target)

        f_aa = self.fisher(setting, self.tasks["a"], seed("a"))
        out = {"a#2": fisher_task_distance(f_aa, self.fisher(setting, self.tasks["a"], seed("a#2")))}
        for name in COLUMNS[1:]:
            out[name] = fisher_task_distance(f_aa, self.fisher(setting, self.tasks[name], seed(name)))
        return out


def per_sample_traces(net: models.TaskNet, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``||grad_body log p(y_i | x_i)||^2`` per sample: each sample's share of the empirical Fisher's trace."""
    params = {n: p.detach() for n, p in net.body.named_parameters()}

    def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        feats = torch.func.functional_call(net.body, p, (xi.unsqueeze(0),))  # (1, hidden)
        return torch.nn.functional.cross_entropy(net.head(feats), yi.unsqueeze(0))

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
    traces = []
    for start in range(0, len(labels), 100):
        grads = per_sample(params, images[start : start + 100], labels[start : start + 100])  # name -> (B, *shape)
        traces.append(sum(g.double().square().flatten(1).sum(1) for g in grads.values()))  # (B,)
    return torch.cat(traces)


def head_diagnostics(pairs: Pairs, head: Head, replicates: int) -> dict[str, object]:
    """Training loss of the heads fitted on ``a`` and ``a_perm``, the TV distance of their predictions, and how
    concentrated the empirical Fisher of ``F_{a,a}`` is on few samples."""
    a, a_perm = pairs.tasks["a"], pairs.tasks["a_perm"]
    losses_a, losses_p, tvs, iters, n_eff, top10 = [], [], [], [], [], []
    for r in range(replicates):
        seed = stable_seed(r, "fisher", "a", "a")
        net, info = pairs.head(head, a, seed)
        net_p, info_p = pairs.head(head, a_perm, stable_seed(r, "fisher", "a", "a_perm"))
        with torch.no_grad():
            logits = net(a.x_train)  # (N, 5)
            logits_p = net_p(a.x_train)[:, [4 - k for k in range(5)]]  # (N, 5), back to a's label order
        losses_a.append(torch.nn.functional.cross_entropy(logits, a.y_train).item())
        losses_p.append(torch.nn.functional.cross_entropy(logits_p, a.y_train).item())
        tvs.append(0.5 * (logits.softmax(1) - logits_p.softmax(1)).abs().sum(1).mean().item())
        iters += [i["iterations"] for i in (info, info_p) if i]
        keep = tasks.subsample(len(a.y_train), 500, stable_seed(seed, "samples"))
        t = per_sample_traces(net, a.x_train[keep], a.y_train[keep])  # (500,)
        n_eff.append((t.sum() ** 2 / t.square().sum()).item())
        top10.append((t.sort(descending=True).values[:10].sum() / t.sum()).item())
    out: dict[str, object] = {"loss a": np.mean(losses_a), "loss a_perm": np.mean(losses_p)}
    out["TV(a, a_perm)"] = np.mean(tvs)
    out["n_eff of 500"] = np.mean(n_eff)
    out["top-10 share"] = np.mean(top10)
    out["solver iters"] = f"{min(iters)}-{max(iters)}" if iters else "-"
    infos = [i for (h, *_), (_, i) in pairs.heads.items() if h == head and i]
    out["converged"] = f"{sum(i['converged'] for i in infos)}/{len(infos)}" if infos else "-"
    return out


# ------------------------------------------------------------------------------- cost


FRESH = """
import time, torch
torch.set_num_threads(1)
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""


def fresh_process_seconds(stmt: str, repeats: int) -> float:
    """Median over fresh interpreters of the time ``stmt`` takes right after ``import torch``."""
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", FRESH.format(stmt=stmt)], check=True, capture_output=True,
                             text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def cost_table(pairs: Pairs, repeats: int) -> list[tuple[str, float]]:
    a = pairs.tasks["a"]
    rows = []
    for label, seconds in pairs.head_seconds.items():
        rows.append((f"head fit {label} (in-process, median)", statistics.median(seconds)))
    net = pairs.net_a.with_new_head(5, seed=0)
    net.head.requires_grad_(False)
    keep = tasks.subsample(len(a.y_train), 500, 0)
    for estimator, index, label in (("empirical", keep, "500 samples"), ("exact", keep, "500 samples"),
                                    ("exact", np.arange(len(a.y_train)), f"all {len(a.y_train)} samples")):
        start = time.perf_counter()
        fisher.fisher_diagonal(net, a.x_train[index], a.y_train[index], estimator=estimator, batch_size=128)
        rows.append((f"Fisher pass, {label}, {estimator} (5 classes)", time.perf_counter() - start))
    rows.append(("fresh process: first torch.optim.LBFGS (imports torch._dynamo)",
                 fresh_process_seconds("torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])", repeats)))
    rows.append(("fresh process: first taskdist.nets.optim.Adam step",
                 fresh_process_seconds("from taskdist.nets.optim import Adam\np = torch.zeros(1, requires_grad=True)\n"
                                       "p.sum().backward(); Adam([p]).step()", repeats)))
    rows.append(("fresh process: import scipy.optimize (alternative L-BFGS)",
                 fresh_process_seconds("import scipy.optimize", repeats)))
    return rows


# ------------------------------------------------------------------------------- main


def fmt(value: object, width: int) -> str:
    return f"{value:>{width}.3f}" if isinstance(value, float) else f"{value!s:>{width}}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="seed families per cell (mean reported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="two settings only (smoke test)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of N_a")
    parser.add_argument("--cost-repeats", type=int, default=3, help="fresh processes per cost line (median)")
    args = parser.parse_args(argv)
    if min(args.repeats, args.threads, args.epochs, args.cost_repeats) < 1:
        parser.error("--repeats, --threads, --epochs and --cost-repeats must be >= 1")
    torch.set_num_threads(args.threads)
    wall, load_start = time.perf_counter(), os.getloadavg()

    ds = datasets.load("mnist5k", ImageSpec(28, 1))
    task_set = build_tasks(ds)
    a = task_set["a"]
    net_a = models.build(DEFAULT_NETWORK, 1, a.n_classes, seed=0)
    start = time.perf_counter()
    train.fit(net_a, a.x_train, a.y_train, epochs=args.epochs, batch_size=64, lr=0.002, seed=0)
    net_a.eval()
    train_acc = train.evaluate(net_a, a.x_train, a.y_train).accuracy
    test_acc = train.evaluate(net_a, a.x_test, a.y_test).accuracy
    print(f"N_a: {len(a.y_train)} train examples, train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f} "
          f"({time.perf_counter() - start:.0f} s)")
    print("tasks (train/test examples):", ", ".join(f"{t.name} {len(t.y_train)}/{len(t.y_test)}"
                                                   for t in task_set.values()))

    pairs = Pairs(net_a, task_set)
    rows = settings(args.quick)
    width = max(len(s.label) for s in rows) + 1
    header = "".join(f"{c:>11}" for c in COLUMNS) + f"{'ratio':>8}{'relabel nearest':>16}"
    print(f"\nFTD d(a -> x), mean over {args.repeats} seed families; ratio = median(b, c) / a_resample")
    print(f"{'setting':<{width}}{header}")
    for setting in rows:
        runs = [pairs.distances(setting, r) for r in range(args.repeats)]
        mean = {c: float(np.mean([run[c] for run in runs])) for c in COLUMNS}
        ratio = float(np.median([mean["b"], mean["c"]])) / mean["a_resample"]
        nearest = sum(run["a_relabel"] < min(run["b"], run["c"], run["all10"]) for run in runs)
        cells = "".join(fmt(mean[c], 11) for c in COLUMNS)
        print(f"{setting.label:<{width}}{cells}{ratio:>8.2f}{f'{nearest}/{args.repeats}':>16}", flush=True)

    heads = list(dict.fromkeys(s.head for s in rows))
    print("\nhead fits: training loss on a and a_perm (same images, labels reversed); mean TV distance of the two")
    print("heads' class probabilities on a's images (label order undone); effective number of samples")
    print("(sum t)^2 / sum t^2 of the per-sample traces t_i = ||grad_body log p(y_i|x_i)||^2 of F_{a,a} and the share")
    print(f"of its trace from the 10 largest; solver iterations (min-max) and heads converged to tol {LBFGS_TOL:g}")
    keys = ("loss a", "loss a_perm", "TV(a, a_perm)", "n_eff of 500", "top-10 share", "solver iters", "converged")
    print(f"{'head':<{width}}" + "".join(f"{k:>14}" for k in keys))
    for head in heads:
        diag = head_diagnostics(pairs, head, args.repeats)
        print(f"{head.label:<{width}}" + "".join(fmt(diag[k], 14) for k in keys), flush=True)

    print("\ncost (seconds, 1 thread)")
    for label, seconds in cost_table(pairs, repeats=args.cost_repeats):
        print(f"  {label:<66}{seconds:>7.3f}")
    print(f"\nwall time {time.perf_counter() - wall:.0f} s; load average at start "
          f"{' '.join(f'{x:.2f}' for x in load_start)}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
