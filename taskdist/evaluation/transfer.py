"""The ground truth of transfer: what a source network is worth on a target with a small labelled budget.

For an ordered pair (source, target) and each replicate ``r``, the target's
labelled budget is drawn (:func:`taskdist.data.budget.draw`):
``samples_per_class`` per label from the target's train split (to train on)
and ``holdout_per_class`` per label from its val split (held out, to decide
when training has converged). The source network is the one of seed
``r mod seeds`` (``consistency.seeds`` networks per task, trained alike from
other initialisations and batch orders), so the replicates, and the
reliability computed from them, count the noise of training a source network
as well as the draw of the budget. Then, in each setting,

- ``finetune``: ``N_source`` gets a new head and all its weights are trained
  with Adam until the held-out loss has not improved for ``patience`` epochs
  (at most ``max_epochs``); the best epoch's weights are kept;
- ``linear``: ``N_source``'s body is frozen and a new linear head is fitted
  on its features to convergence of the (convex, L2-regularised) problem;

and the target's test accuracy and loss are measured. The baseline trains a
fresh network from scratch exactly like ``finetune``, initialised from the
replicate's seed (so its initialisation varies over replicates as the
source's network does). Every source and the baseline see the same labelled
budget, head initialisation and batch order in a replicate (the seeds depend
on the target and the replicate only), so the gain ``accuracy - scratch
accuracy`` is paired per replicate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from taskdist.data import budget, tasks
from taskdist.progress import Progress
from taskdist.specs import NetworkSpec, TaskSpec, TransferSpec

if TYPE_CHECKING:  # torch is imported where a network is trained, pandas where a frame is made (not in a pair job)
    import pandas as pd
    import torch

    from taskdist.artifacts.dataset import Dataset
    from taskdist.artifacts.task_table import TaskTable
    from taskdist.nets import models

log = logging.getLogger(__name__)

VERSION = 5
"""Version of the ground-truth computation; raised whenever what it computes changes.

Until 4 it versioned the labelled budget's draw too; the draw has its own since
(:data:`taskdist.data.budget.VERSION`), which the ground truth's jobs carry besides this one.

3: pair records and the table carry their format and names (:mod:`taskdist.artifacts.records`,
:mod:`taskdist.artifacts.matrices`);
the linear setting's head is fitted by Newton's method (the same minimiser, to the gradient tolerance);
4: replicate ``r`` transfers the source network of seed ``r mod consistency.seeds``;
5: the networks train and are evaluated in channels-last memory format (:data:`taskdist.nets.train.LAYOUT`), the
test split 128 images at a time: the same arithmetic, summed in another order (weights and gradients move by
about 1e-7 relative per step), for about 0.6x the CPU."""

TEST_BATCH = 128
"""Test images per forward pass of the final evaluation: measured, 128 costs half of 512 per image on the small
CNN (the activations of 512 images fall out of the cache)."""

SETTINGS = ("finetune", "linear")
"""Transfer settings: all weights fine-tuned, or the body frozen and a new linear head."""

COLUMNS = ("source", "target", "setting", "replicate", "source_seed", "accuracy", "loss", "scratch_accuracy", "gain")


def run(
    checkpoints: list[dict] | None,
    target: TaskSpec,
    dataset: Dataset,
    table: TaskTable,
    arch: NetworkSpec | None,
    spec: TransferSpec,
    seed: int,
    device: torch.device,
) -> list[dict]:
    """Every replicate of every setting for one source or, when ``checkpoints`` is None, from scratch
    (a new network of shape ``arch``; a source brings its own).

    ``checkpoints`` are the source's networks of seeds 0, 1, ...: replicate
    ``r`` transfers ``checkpoints[r % len(checkpoints)]``. Returns one record
    per setting and replicate: ``setting, replicate, source_seed,
    train_examples, held_out_examples, accuracy, loss`` and where training
    stopped (``epochs, best_epoch, stopped``). ``seed`` must depend on the
    target only (paired replicates).
    """
    from taskdist.artifacts.checkpoint import load_network
    from taskdist.nets import models, train

    x, y = tasks.arrays(dataset, table)
    x_test, y_test = tasks.arrays(dataset, table, "test")
    settings = ("scratch",) if checkpoints is None else spec.settings
    if checkpoints is None and arch is None:
        raise ValueError("training from scratch needs the network's shape: arch is None")
    if checkpoints is not None and not checkpoints:
        raise ValueError("a transfer needs at least one source network; got an empty list")
    target_budget = spec.labelled_budget(seed)  # every source and the baseline draw the same
    runs = []
    progress = Progress("transfer", spec.replicates * len(settings), "runs", logger=log)
    for replicate in range(spec.replicates):
        train_rows, held_rows = budget.draw(table, target_budget, replicate)
        rep = budget.replicate_seed(seed, replicate)
        x_fit, y_fit = x[train_rows], y[train_rows]
        held = (x[held_rows], y[held_rows])
        source_seed = None if checkpoints is None else replicate % len(checkpoints)
        for setting in settings:
            if setting == "scratch":
                net = models.build(arch, x.shape[1], target.n_classes, seed=rep)
            else:
                net = load_network(checkpoints[source_seed], device).with_new_head(target.n_classes, seed=rep)
            # Channels-last layout (taskdist.nets.train.LAYOUT), as fit_early_stopping trains: the linear
            # setting's features and the test evaluation then run as fast.
            net = net.to(device, memory_format=train.LAYOUT)
            name = f"{setting} replicate {replicate}"
            if setting == "linear":
                stop = _fit_linear(net, x_fit, y_fit, spec, name)
            else:
                ft = spec.finetune
                stopped = train.fit_early_stopping(
                    net, x_fit, y_fit, held, max_epochs=ft.max_epochs, patience=ft.patience,
                    batch_size=ft.batch_size, lr=ft.lr, seed=rep, name=name,
                )
                stop = {"epochs": stopped.epochs, "best_epoch": stopped.best_epoch, "stopped": stopped.reason}
            ev = train.evaluate(net, x_test, y_test, batch_size=TEST_BATCH)
            runs.append({"setting": setting, "replicate": replicate, "source_seed": source_seed,
                         "train_examples": len(train_rows),
                         "held_out_examples": len(held_rows), "accuracy": ev.accuracy, "loss": ev.loss, **stop})
            log.info("%s: test accuracy %.4f, loss %.4f", name, ev.accuracy, ev.loss)
            progress.advance()
    progress.end()
    return runs


def _fit_linear(net: models.TaskNet, x: torch.Tensor, y: torch.Tensor, spec: TransferSpec, name: str) -> dict:
    """Fit ``net.head`` on the frozen body's features to convergence; returns where it stopped."""
    from taskdist.nets.linear import refit_head

    lin = spec.linear
    info = refit_head(net, x, y, l2=lin.l2, max_iter=lin.max_iter, tol=lin.tol)
    log.info("%s: Newton solver stopped after %d iterations (%s), gradient %.2e", name, info["iterations"],
             info["reason"], info["grad_norm"])
    return {"epochs": info["iterations"], "best_epoch": info["iterations"], "stopped": info["reason"]}


def table(pairs: list[dict], scratch: list[dict]) -> pd.DataFrame:
    """``results/transfer.parquet``: one row per source, target, setting and replicate.

    ``pairs`` and ``scratch`` are the per-pair and per-target results (each
    names its ``source``/``target``); ``gain`` is the accuracy minus the
    from-scratch accuracy of the same replicate (paired).

    Raises
    ------
    ValueError
        If a target has no from-scratch result, results repeat, or a pair's
        replicates differ from its target's baseline.
    """
    import pandas as pd

    base: dict[str, dict[int, dict]] = {}
    for result in scratch:
        if result["target"] in base:
            raise ValueError(f"two from-scratch results for target {result['target']!r}")
        base[result["target"]] = {r["replicate"]: r for r in result["runs"]}
    rows, seen = [], set()
    for result in pairs:
        source, target = result["source"], result["target"]
        if (source, target) in seen:
            raise ValueError(f"two transfer results for the pair {source!r} -> {target!r}")
        seen.add((source, target))
        if target not in base:
            raise ValueError(f"no from-scratch result for target {target!r} (pair {source!r} -> {target!r})")
        for r in result["runs"]:
            if r["replicate"] not in base[target]:
                raise ValueError(f"pair {source!r} -> {target!r}: replicate {r['replicate']} has no baseline")
            b = base[target][r["replicate"]]
            rows.append({"source": source, "target": target, "setting": r["setting"], "replicate": r["replicate"],
                         "source_seed": r.get("source_seed"), "accuracy": r["accuracy"], "loss": r["loss"],
                         "scratch_accuracy": b["accuracy"],
                         "gain": r["accuracy"] - b["accuracy"], "epochs": r["epochs"],
                         "best_epoch": r["best_epoch"], "stopped": r["stopped"],
                         "scratch_epochs": b["epochs"], "scratch_stopped": b["stopped"]})
    return pd.DataFrame(rows).sort_values(["source", "target", "setting", "replicate"], ignore_index=True)


def means(transfer: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Mean and standard deviation over replicates per pair of one setting: ``source, target, accuracy, gain, ...``."""
    if setting not in set(transfer["setting"]):
        raise ValueError(f"the transfer table has no setting {setting!r}; it has {sorted(set(transfer['setting']))}")
    frame = transfer[transfer["setting"] == setting]
    grouped = frame.groupby(["source", "target"], sort=True)
    out = grouped[["accuracy", "loss", "scratch_accuracy", "gain"]].mean()
    out["accuracy_std"] = grouped["accuracy"].std(ddof=1)
    out["gain_std"] = grouped["gain"].std(ddof=1)
    out["replicates"] = grouped.size()
    return out.reset_index()
