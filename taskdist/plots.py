"""Figures for the report."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskdist.artifacts.io import atomic_path  # noqa: E402
from taskdist.specs import SEARCHES  # noqa: E402

VERSION = 4
"""Version of the plots; raised whenever they change.

4: the NAS figure shows each search's mean test accuracy over seeds with its spread; the anytime curves."""

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def heatmap(square: pd.DataFrame, *, title: str, path: str | Path, spread: pd.DataFrame | None = None) -> None:
    """Annotated heatmap of a task x task matrix (rows = source, columns = target).

    ``spread`` (same tasks): a standard deviation per cell, e.g. over replicates; each cell then reads
    ``mean`` over ``± sd``."""
    n = len(square)
    values = square.to_numpy(dtype=float)
    sd = None if spread is None else spread.reindex(index=square.index, columns=square.columns).to_numpy(dtype=float)
    width = max(4.5, 1.0 + (0.9 if sd is not None else 0.75) * n)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.7 * n))
    im = ax.imshow(values, cmap="viridis")
    ax.set_xticks(range(n), square.columns, rotation=45, ha="right")
    ax.set_yticks(range(n), square.index)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    ax.set_title("\n".join(textwrap.wrap(title, int(7 * width))), fontsize=10)  # wrapped to fit the figure
    threshold = (np.nanmax(values) + np.nanmin(values)) / 2
    for i, j in zip(*np.nonzero(np.isfinite(values)), strict=True):
        text = f"{values[i, j]:.2f}"
        if sd is not None and np.isfinite(sd[i, j]):
            text += f"\n±{sd[i, j]:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7 if sd is not None else 8,
                color="black" if values[i, j] > threshold else "white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
    plt.close(fig)


def atlas(square: pd.DataFrame, *, title: str, path: str | Path, seed: int) -> None:
    """Task atlas: a 2-D metric MDS embedding of the tasks from a (symmetrised) distance matrix.

    The matrix is made symmetric as ``(D + D^T) / 2`` and shifted to be
    non-negative with a zero diagonal before MDS (scikit-learn, seeded).
    """
    from sklearn.manifold import MDS

    d = square.to_numpy(dtype=float)
    d = (d + d.T) / 2
    d = d - np.nanmin(d[~np.eye(len(d), dtype=bool)]) + 1e-9 if np.nanmin(d) < 0 else d
    np.fill_diagonal(d, 0.0)
    xy = MDS(n_components=2, dissimilarity="precomputed", random_state=seed, n_init=4).fit_transform(d)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(xy[:, 0], xy[:, 1], s=40, color="tab:blue")
    for (x, y), name in zip(xy, square.index, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path)


@dataclass(frozen=True)
class Panel:
    """One panel of :func:`mantel_scatter`: the ground truth of one setting (task x task mean and standard
    deviation over replicates), the panel's title and the y-axis label."""

    mean: pd.DataFrame
    std: pd.DataFrame
    title: str
    ylabel: str


def mantel_scatter(distance: pd.DataFrame, panels: Sequence[Panel], *, title: str, xlabel: str,
                   path: str | Path) -> None:
    """Off-diagonal entries of a method's matrix against the ground truth, one point per ordered pair and one
    panel per setting; error bars: the standard deviation over replicates. Panel titles are wrapped to fit."""
    mask = ~np.eye(len(distance), dtype=bool)
    x = distance.to_numpy(dtype=float)[mask]
    fig, axes = plt.subplots(1, len(panels), figsize=(0.6 + 4.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        def cells(square: pd.DataFrame) -> np.ndarray:
            return square.reindex(index=distance.index, columns=distance.columns).to_numpy(dtype=float)[mask]

        y, err = cells(panel.mean), cells(panel.std)
        ax.errorbar(x, y, yerr=np.where(np.isfinite(err), err, 0.0), fmt="o", markersize=4, alpha=0.8,
                    elinewidth=1, capsize=2)
        ax.set_xlabel("\n".join(textwrap.wrap(xlabel, 40)), fontsize=9)
        ax.set_ylabel("\n".join(textwrap.wrap(panel.ylabel, 40)), fontsize=9)
        ax.set_title("\n".join(textwrap.wrap(panel.title, 40)), fontsize=9)
    fig.suptitle(title, fontsize=11)
    _save(fig, path)


def nas_summary(table: pd.DataFrame, *, path: str | Path) -> None:
    """One panel per NAS target: test accuracy of each search's winner (mean over seeds, bar from the lowest to
    the highest seed's), labelled with its median parameters, the candidates a search trained, its mean wall
    time and the seeds."""
    targets = table[table["role"] == "target"]
    names = list(dict.fromkeys(targets["task"]))
    fig, axes = plt.subplots(1, len(names), figsize=(1.0 + 3.4 * len(names), 3.8), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names, strict=True):
        grouped = targets[targets["task"] == name].groupby("search")
        rows = grouped.agg(test=("test_accuracy", "mean"), low=("test_accuracy", "min"), high=("test_accuracy", "max"),
                           params=("params", "median"), candidates=("candidates_trained", "median"),
                           seconds=("search_seconds", "mean"), seeds=("test_accuracy", "size"))
        rows = rows.reindex([s for s in SEARCHES if s in rows.index])
        colors = [COLORS[list(SEARCHES).index(search) % len(COLORS)] for search in rows.index]
        bars = ax.bar(rows.index, rows["test"], color=colors,
                      yerr=[rows["test"] - rows["low"], rows["high"] - rows["test"]], capsize=3)
        for bar, (_, row) in zip(bars, rows.iterrows(), strict=True):
            label = (f"{row['params'] / 1e3:.0f}k params\n{row['candidates']:.0f} candidates\n"
                     f"{row['seconds']:.0f} s, {row['seeds']:.0f} seed{'s' if row['seeds'] > 1 else ''}")
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, row["high"]), ha="center", va="bottom",
                        fontsize=7)
        ax.set_title(name)
        ax.tick_params(axis="x", labelsize=7, rotation=20)
        ax.set_ylim(0.0, 1.3)  # from zero, so the bars' heights compare; above 1: room for the labels
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
    axes[0][0].set_ylabel("test accuracy of the winner")
    _save(fig, path)


def nas_curves(curves: pd.DataFrame, *, path: str | Path, cost: str = "candidates_trained") -> None:
    """One panel per NAS target: the best validation accuracy so far against the cost so far of each search
    (:func:`taskdist.aggregates.nas_curves`): the median over seeds as a line, the band from the lowest to the
    highest seed's."""
    names = list(dict.fromkeys(curves["task"]))
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(1.0 + 4.0 * max(1, len(names)), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        rows = curves[curves["task"] == name]
        for search in [s for s in SEARCHES if s in set(rows["search"])]:
            wide = rows[rows["search"] == search].pivot_table(index=cost, columns="seed", values="best_val_accuracy")
            wide = wide.ffill()
            color = COLORS[list(SEARCHES).index(search) % len(COLORS)]
            ax.plot(wide.index, wide.median(axis=1), color=color, marker=".",
                    label=f"{search} ({wide.shape[1]} seeds)")
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=color, alpha=0.15, linewidth=0)
        ax.set_title(name)
        ax.set_xlabel(cost.replace("_", " "))
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("best validation accuracy so far")
    _save(fig, path)


def path_traces(traces: pd.DataFrame, *, path: str | Path) -> None:
    """One panel per pair (source -> target): the cumulative Fisher-Rao length against τ of each path-length
    method (:func:`taskdist.aggregates.path_traces`), each line ending at that method's distance."""
    pairs = list(dict.fromkeys(zip(traces["source"], traces["target"], strict=True)))
    methods = list(dict.fromkeys(traces["method"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(1.0 + 3.2 * len(pairs), 3.4), squeeze=False, sharey=True)
    for ax, (source, target) in zip(axes[0], pairs, strict=True):
        for k, method in enumerate(methods):
            rows = traces[(traces["source"] == source) & (traces["target"] == target) & (traces["method"] == method)]
            ax.plot(rows["tau"], rows["length"], marker=".", color=COLORS[k % len(COLORS)],
                    label=f"{method} {rows['length'].iloc[-1]:.2f}")
        ax.set_title(f"{source} -> {target}", fontsize=9)
        ax.set_xlabel("τ (finetune_length: step of the same schedule)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("cumulative length")
    _save(fig, path)


def bound_terms(table: pd.DataFrame, *, path: str | Path) -> None:
    """Per pair (sorted by the bound): the bound's three terms stacked, the loss of the transferred head it bounds
    (labelled examples and test split) and the test loss of a new linear head on the labelled examples."""
    table = table.sort_values("bound").reset_index(drop=True)
    y = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7.5, 1.5 + 0.22 * len(table)))
    left = np.zeros(len(table))
    for k, (term, label) in enumerate((("source_loss", "re-weighted source loss"),
                                       ("conditional_entropy", "H(Y_T | Y_S)"), ("wasserstein", "τ · W1"))):
        ax.barh(y, table[term], left=left, color=COLORS[k], label=label)
        left += table[term].to_numpy()
    ax.plot(table["target_loss"], y, "k|", markersize=9, label="loss of h_T (labelled examples)")
    ax.plot(table["test_loss"], y, "kx", markersize=5, label="loss of h_T (test split)")
    ax.plot(table["linear_loss"], y, "r.", label="new linear head (test split)")
    ax.set_yticks(y, [f"{s} -> {t}" for s, t in zip(table["source"], table["target"], strict=True)], fontsize=7)
    ax.set_xlabel("cross-entropy (nats)")
    ax.set_title("Transferability bound, term by term")
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)
