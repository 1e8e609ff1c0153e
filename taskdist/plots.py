"""Figures for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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
    threshold = (values.max() + values.min()) / 2 if n else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if values[i, j] > threshold else "white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
    plt.close(fig)
