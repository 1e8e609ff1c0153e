"""Figures for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskdist.io import atomic_path  # noqa: E402


def heatmap(square: pd.DataFrame, *, title: str, path: str | Path) -> None:
    """Annotated heatmap of a task x task matrix (rows = source, columns = target)."""
    n = len(square)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.6 + 0.7 * n))
    im = ax.imshow(square.to_numpy(dtype=float), cmap="viridis")
    ax.set_xticks(range(n), square.columns, rotation=45, ha="right")
    ax.set_yticks(range(n), square.index)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    ax.set_title(title)
    values = square.to_numpy(dtype=float)
    threshold = (np.nanmax(values) + np.nanmin(values)) / 2
    for i, j in zip(*np.nonzero(np.isfinite(values))):
        ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
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
    for (x, y), name in zip(xy, square.index):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path)


def mantel_scatter(distance: pd.DataFrame, truth: pd.DataFrame, *, title: str, xlabel: str, ylabel: str,
                   path: str | Path) -> None:
    """Off-diagonal entries of a method's matrix against the ground truth, one point per ordered pair."""
    mask = ~np.eye(len(distance), dtype=bool)
    x = distance.to_numpy(dtype=float)[mask]
    y = truth.reindex(index=distance.index, columns=distance.columns).to_numpy(dtype=float)[mask]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(x, y, s=18, alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _save(fig, path)
