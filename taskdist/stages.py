"""One function per workflow stage: the whole computation of a rule, minus file plumbing.

The scripts in ``workflow_scripts/`` read ``snakemake.input``/``params``, call
these and write ``snakemake.output``; the functions can equally be called from
a notebook.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

from taskdist.artifacts.checkpoint import load_network
from taskdist.artifacts.checkpoint import make as make_checkpoint
from taskdist.artifacts.checkpoint import read as read_checkpoint
from taskdist.artifacts.dataset import Dataset
from taskdist.artifacts.task_table import TaskTable
from taskdist.data import tasks
from taskdist.data.budget import method_examples
from taskdist.methods import fisher, scores
from taskdist.nets import models, train
from taskdist.progress import Progress
from taskdist.seeds import stable_seed
from taskdist.specs import (
    BoundSpec,
    BudgetSpec,
    CoupledSpec,
    FisherSpec,
    FuseSpec,
    HeadSpec,
    NetworkSpec,
    ProbeSpec,
    TanasSpec,
    TaskSpec,
    TrainSpec,
    to_params,
)

if TYPE_CHECKING:  # pandas only where a frame is returned: the jobs that read task tables skip its import
    import pandas as pd

log = logging.getLogger(__name__)


def train_task(
    task: TaskSpec,
    dataset: Dataset,
    table: TaskTable,
    arch: NetworkSpec,
    spec: TrainSpec,
    device: torch.device,
    seed: int | None = None,
) -> dict:
    """Train ``N_task`` from scratch on the task's train split; returns the checkpoint dict.

    ``seed`` (initialisation and batch order) defaults to the task's; another
    one trains another network on the same examples (FTD consistency).
    """
    seed = task.seed if seed is None else seed
    x_train, y_train = tasks.arrays(dataset, table, "train")
    x_val, y_val = tasks.arrays(dataset, table, "val")
    x_test, y_test = tasks.arrays(dataset, table, "test")
    model = models.build(arch, dataset.images.shape[1], task.n_classes, seed=seed).to(device)
    log.info(
        "training %s: %d train / %d val / %d test examples, %d classes",
        task.id,
        len(y_train),
        len(y_val),
        len(y_test),
        task.n_classes,
    )
    stopped = _fit(model, x_train, y_train, spec, seed, (x_val, y_val), task.id)
    metrics = {"epochs": stopped.epochs, "best_epoch": stopped.best_epoch, "stopped": stopped.reason}
    for split, (x, y) in {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}.items():
        ev = train.evaluate(model, x, y)
        metrics[f"{split}_accuracy"], metrics[f"{split}_loss"] = ev.accuracy, ev.loss
    log.info(
        "%s: train acc %.4f, val acc %.4f, test acc %.4f",
        task.id,
        metrics["train_accuracy"],
        metrics["val_accuracy"],
        metrics["test_accuracy"],
    )
    return make_checkpoint(model, to_params(task), metrics, stopped.history)


def train_probe(
    probe_tasks: list[TaskSpec],
    datasets: list[Dataset],
    tables: list[TaskTable],
    arch: NetworkSpec,
    spec: TrainSpec,
    seed: int,
    device: torch.device,
) -> dict:
    """Train the Task2Vec probe on the union of ``probe_tasks``: their labels side by side, train splits pooled."""
    offset, images, labels, val_images, val_labels = 0, [], [], [], []
    for task, dataset, table in zip(probe_tasks, datasets, tables, strict=True):
        for split, xs, ys in (("train", images, labels), ("val", val_images, val_labels)):
            x, y = tasks.arrays(dataset, table, split)
            xs.append(x)
            ys.append(y + offset)
        offset += task.n_classes
    x_train, y_train = torch.cat(images), torch.cat(labels)
    x_val, y_val = torch.cat(val_images), torch.cat(val_labels)
    model = models.build(arch, x_train.shape[1], offset, seed=seed).to(device)
    log.info("training the probe on %s: %d examples, %d classes", [t.id for t in probe_tasks], len(y_train), offset)
    stopped = _fit(model, x_train, y_train, spec, seed, (x_val, y_val), "probe")
    union = {"id": "+".join(t.id for t in probe_tasks), "dataset": "+".join(t.dataset for t in probe_tasks)}
    metrics = {"epochs": stopped.epochs, "best_epoch": stopped.best_epoch, "stopped": stopped.reason}
    for split, (x, y) in {"train": (x_train, y_train), "val": (x_val, y_val)}.items():
        ev = train.evaluate(model, x, y)
        metrics[f"{split}_accuracy"], metrics[f"{split}_loss"] = ev.accuracy, ev.loss
    return make_checkpoint(model, union, metrics, stopped.history)


def _fit(model, x, y, spec: TrainSpec, seed: int, val, name: str) -> train.Stopped:
    """:func:`taskdist.nets.train.fit_early_stopping` on the val split with the settings of a :class:`TrainSpec`."""
    return train.fit_early_stopping(model, x, y, val, max_epochs=spec.max_epochs, patience=spec.patience,
                                    batch_size=spec.batch_size, lr=spec.lr, weight_decay=spec.weight_decay,
                                    seed=seed, name=name)


def pair_fisher(
    checkpoint: dict,
    data_task: TaskSpec,
    dataset: Dataset,
    table: TaskTable,
    budget: BudgetSpec | None,
    spec: FisherSpec,
    seed: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """``F_{net,data}``: the body's diagonal FIM of ``N_net`` on task ``data``, per layer
    (:mod:`taskdist.artifacts.vectors`).

    ``table`` is ``data``'s whole table; ``budget`` is None where the network
    reads ``data``'s train split (its own task) and ``data``'s labelled budget
    where it reads only the labelled examples a user has
    (:func:`taskdist.data.budget.method_examples`). The body of ``N_net`` is
    frozen, a fresh head is fitted on those examples' labels to convergence
    (:func:`taskdist.nets.linear.refit_head`: it then depends on the examples
    only, not on a seed or the label order), then the FIM of the body is
    estimated over at most ``spec.samples`` of them.
    """
    x, y = tasks.arrays(dataset, method_examples(table, budget), "train")
    return body_fisher(load_network(checkpoint, device), x, y, data_task.n_classes, spec, seed, device)


def body_fisher(
    net: models.TaskNet | models.BackboneNet,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    spec: FisherSpec,
    seed: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The body's diagonal FIM of ``net`` on the examples ``(x, y)``, per layer: the computation of
    :func:`pair_fisher` once its examples are read (:func:`taskdist.api.fisher` calls it on tensors).

    A copy of ``net`` gets a fresh head over ``n_classes`` labels, fitted on ``(x, y)`` to convergence with the
    body frozen; the head is then frozen too, so the FIM is the body's, over at most ``spec.samples`` of the
    examples (chosen with ``seed``, in the order given). ``net`` itself is left untouched.
    """
    from taskdist.nets.linear import refit_head

    net = net.with_new_head(n_classes, seed=stable_seed(seed, "head")).to(device)
    info = refit_head(net, x, y, l2=spec.head.l2, max_iter=spec.head.max_iter, tol=spec.head.tol)
    log.info("head on %d examples: Newton solver stopped after %d iterations (%s), gradient %.2e, loss %.4f",
             len(y), info["iterations"], info["reason"], info["grad_norm"], info["loss"])
    keep = tasks.subsample(len(y), spec.samples, stable_seed(seed, "samples"))
    net.head.requires_grad_(False)
    diag = fisher.fisher_diagonal(
        net,
        x[keep],
        y[keep],
        estimator=spec.estimator,
        granularity=spec.granularity,
        batch_size=spec.batch_size,
        seed=stable_seed(seed, "fisher"),
        mc_samples=spec.mc_samples,
        device=device,
    )
    return {name.removeprefix("body."): _per_layer(values, spec.granularity) for name, values in diag.items()}


def _per_layer(values: torch.Tensor, granularity: str) -> np.ndarray:
    """One parameter's Fisher diagonal as :mod:`taskdist.artifacts.vectors` values: ``(filters,)`` at filter
    granularity,
    ``(filters, entries per filter)`` at parameter granularity."""
    grid = values.detach().cpu().double().reshape(values.shape[0], -1).numpy()  # (filters, entries per filter)
    return grid if granularity == "parameter" else grid[:, 0]


@torch.no_grad()
def target_scores(
    checkpoints: dict[str, dict],
    dataset: Dataset,
    samples: dict[str, TaskTable],
    budgets: dict[str, BudgetSpec | None],
    device: torch.device,
) -> pd.DataFrame:
    """Every transferability score of every source network for one target, on each of its samples.

    ``checkpoints`` maps source ids to checkpoints; ``samples`` maps a sample
    name (``task``, and ``resample`` for the noise floor) to its whole task
    table, and ``budgets`` the same names to its labelled budget (None: its
    whole train split); the scores read the examples
    :func:`taskdist.data.budget.method_examples` selects. They read
    the source's softmax outputs and body features, without any training.
    Scores cost far less than the start of a job, so one job scores every
    source for a target.

    Returns
    -------
    pandas.DataFrame
        ``source, sample, method, value, examples, features``, one row per
        source, sample and score: ``examples`` read, and the dimension of the
        source's features (H-score needs more examples than features:
        :func:`taskdist.methods.scores.underdetermined`).
    """
    if set(samples) != set(budgets):
        raise ValueError(f"samples {sorted(samples)} and budgets {sorted(budgets)} must name the same samples")
    rows = []
    arrays = {sample: tasks.arrays(dataset, method_examples(table, budgets[sample]), "train")
              for sample, table in samples.items()}
    progress = Progress("scores", len(checkpoints) * len(arrays), "source samples", logger=log)
    for source, ckpt in checkpoints.items():
        net = load_network(ckpt, device)
        dim = models.features(net.body, next(iter(arrays.values()))[0][:1]).shape[1]
        for sample, (x, y) in arrays.items():
            for name, value in source_scores(net, x, y).items():
                rows.append({"source": source, "sample": sample, "method": name, "value": value,
                             "examples": len(y), "features": dim})
                if scores.underdetermined(name, len(y), dim):
                    log.warning("%s of %s on %s (%s): %d examples for %d features: every source scores the "
                                "number of labels - 1 (degenerate)", name, source, sample, len(y), len(y), dim)
            progress.advance()
    progress.end()
    import pandas as pd

    return pd.DataFrame(rows)


@torch.no_grad()
def source_scores(net: models.HeadedNet, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Every transferability score (:data:`taskdist.methods.scores.SCORES`) of the network ``net`` (``body`` and
    ``head``) on the labelled examples ``(x, y)``: the computation of :func:`target_scores` per source and sample
    (:func:`taskdist.api.scores` calls it on tensors)."""
    feats = models.features(net.body, x)  # (N, hidden)
    probs = torch.softmax(net.head(feats).double(), dim=1)  # (N, source classes)
    features, probs_np, labels = feats.double().cpu().numpy(), probs.cpu().numpy(), y.cpu().numpy()
    return {name: float(scores.score_matrix_entry(name, probs=probs_np, features=features, target_labels=labels))
            for name in scores.SCORES}


def task2vec_probe(spec: ProbeSpec, in_channels: int, probe_files: list[str]) -> torch.nn.Module:
    """The probe: the workflow's trained probe checkpoint, or a torchvision model (with its weights file)."""
    from taskdist.methods import probes

    checkpoint = read_checkpoint(probe_files[0]) if spec.kind == "trained" else None
    return probes.probe_from_spec(spec, in_channels=in_channels, checkpoint=checkpoint)


def task2vec_embedding(
    probe: torch.nn.Module,
    task: TaskSpec,
    dataset: Dataset,
    table: TaskTable,
    budget: BudgetSpec | None,
    *,
    estimator: str,
    head: HeadSpec,
    samples: int,
    beta: float,
    seed: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The Task2Vec embedding of ``task``: per layer, one value per filter.

    ``table`` is the task's whole table; the embedding reads its labelled budget (``budget``) or, when None, its
    whole train split (:func:`taskdist.data.budget.method_examples`)."""
    x, y = tasks.arrays(dataset, method_examples(table, budget), "train")
    return embed_examples(probe, x, y, task.n_classes, estimator=estimator, head=head, samples=samples, beta=beta,
                          seed=seed, device=device)


def embed_examples(
    probe: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    *,
    estimator: str,
    head: HeadSpec,
    samples: int,
    beta: float,
    seed: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The Task2Vec embedding of the labelled examples ``(x, y)`` over ``n_classes`` labels: the computation of
    :func:`task2vec_embedding` once its examples are read (:func:`taskdist.api.task2vec` calls it on tensors)."""
    from taskdist.methods import task2vec

    return task2vec.embed(
        probe,
        x,
        y,
        n_classes,
        estimator=estimator,
        head_epochs=head.epochs,
        head_lr=head.lr,
        batch_size=head.batch_size,
        samples=samples,
        beta=beta,
        seed=seed,
        device=device,
    )


def pair_complexity(
    source: dict,
    target: dict,
    dataset: Dataset,
    table: TaskTable,
    spec: TanasSpec,
    seed: int,
    device: torch.device,
) -> float:
    """TA-NAS complexity ``d(source -> target)``: bodies of both task networks on the target's train examples.

    ``source`` and ``target`` are the two checkpoints; at most ``spec.samples``
    train examples of the target enter (see
    :func:`taskdist.methods.tanas.complexity_distance`).
    """
    from taskdist.methods.tanas import complexity_distance

    x, y = tasks.arrays(dataset, table, "train")
    keep = tasks.subsample(len(y), spec.samples, stable_seed(seed, "samples"))
    z_source = models.features(load_network(source, device).body, x[keep]).cpu()
    z_target = models.features(load_network(target, device).body, x[keep]).cpu()
    settings = {k: v for k, v in to_params(spec).items() if k != "samples"}
    return complexity_distance(z_source, z_target, y[keep], seed=stable_seed(seed, "complexity"), **settings)


def pair_path(
    method: str,
    source: dict,
    source_data: tuple[Dataset, TaskTable],
    target_data: tuple[Dataset, TaskTable],
    budget: BudgetSpec | None,
    spec: CoupledSpec,
    seed: int,
    device: torch.device,
) -> dict:
    """A path-length distance ``d(source -> target)`` (:func:`taskdist.methods.coupled.distance`): the source network
    (checkpoint ``source``) on its own train examples and the target's labelled examples (dataset and whole task
    table each; ``budget``, the target's labelled budget, selects its examples, or None its whole train split).
    Each task's labels are named by the dataset classes they hold, so the path's head can share a class of both."""
    from taskdist.methods import coupled

    target_dataset, target_table = target_data
    xs = tasks.arrays(*source_data, "train")
    xt = tasks.arrays(target_dataset, method_examples(target_table, budget), "train")

    def identities(data: Dataset, table: TaskTable) -> list:
        table = TaskTable.of(table)
        return coupled.class_identities(table.label, data.labels[tasks.rows(data, table.index)], data.class_names)

    classes = (identities(*source_data), identities(*target_data))
    return coupled.distance(method, load_network(source, device), xs, xt, spec, seed, classes=classes)


def pair_bound(
    source: dict,
    source_data: tuple[Dataset, TaskTable],
    target_data: tuple[Dataset, TaskTable],
    budget: BudgetSpec | None,
    spec: BoundSpec,
    seed: int,
    device: torch.device,
) -> dict:
    """The transferability bound ``d(source -> target)`` (:func:`taskdist.methods.bound.transfer_bound`): the source
    network on its train examples, and the target (dataset and whole task table): the bound reads the examples
    of its labelled budget ``budget`` (None: its whole train split) and is checked against its test split."""
    from taskdist.methods import bound

    dataset, table = target_data
    return bound.transfer_bound(load_network(source, device), tasks.arrays(*source_data, "train"),
                                tasks.arrays(dataset, method_examples(table, budget), "train"),
                                tasks.arrays(dataset, table, "test"), spec, seed)


def nas_search(
    search: str,
    task: TaskSpec,
    dataset: Dataset,
    table: TaskTable,
    spec: FuseSpec,
    seed: int,
    device: torch.device,
    base_cells: dict[str, dict] | None = None,
    final_seeds: int = 1,
) -> dict:
    """One architecture search on ``task`` (a search of :data:`~taskdist.specs.SEARCHES`), its winner trained
    ``final_seeds`` times and tested.

    ``base_cells`` (``task_aware`` and the ablations, :data:`~taskdist.specs.SPACE_FROM_BASES`, only) maps the
    chosen base tasks to their search results (``results/nas/base/{task}.json``); their winning cells span
    the space. The search seed is ``stable_seed(seed, search)`` and every
    search of a task trains its winner with ``stable_seed(seed, "final")``, so
    a base task's search equals the ``full`` search it would get as a target.
    Returns what its record holds (:mod:`taskdist.artifacts.records`, kind ``search``):
    task, search, bases, space, genotype, parameters, accuracies, budget,
    times and the search history with its anytime trace.
    """
    from taskdist.nas.space import Genotype, SearchSpace
    from taskdist.nas.taskaware import run_search
    from taskdist.specs import SPACE_FROM_BASES

    if (search in SPACE_FROM_BASES) != bool(base_cells):
        raise ValueError(f"search {search!r}: base cells are needed by {', '.join(map(repr, SPACE_FROM_BASES))} "
                         "and only by them")
    if search in SPACE_FROM_BASES:
        space = SearchSpace.task_aware(Genotype.from_dict(cell["genotype"]) for cell in base_cells.values())
    else:
        space = SearchSpace.full()
    splits = [tuple(tasks.arrays(dataset, table, split)) for split in ("train", "val", "test")]
    log.info("%s search on %s: space %s, %d train / %d val examples", search, task.id,
             dict(zip(space.ops, space.weights, strict=True)), len(splits[0][1]), len(splits[1][1]))
    result, history = run_search(search, space, *splits, spec=spec, seed=stable_seed(seed, search),
                                 final_seed=stable_seed(seed, "final"), final_seeds=final_seeds,
                                 n_classes=task.n_classes, device=device)
    result["genotype"] = json.loads(result["genotype"])
    return {"task": task.id, "bases": list(base_cells or ()), **result, "history": history.to_dict("records")}
