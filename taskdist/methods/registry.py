"""The methods by name, and what each reads: what planning needs, without importing torch or the methods.

The workflow picks methods by name from :data:`METHODS`; ``rules/common.smk``
imports this module (numpy only) to plan their jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from taskdist.specs import CoupledSpec


@dataclass(frozen=True)
class Method:
    """A task-distance method the workflow can compute.

    ``kind`` is ``"distance"`` (lower = closer, better transfer expected) or
    ``"score"`` (a transferability score: higher = better transfer expected).
    """

    name: str
    description: str
    symmetric: bool
    kind: str = "distance"

    def as_distance(self, values: np.ndarray) -> np.ndarray:
        """Values oriented as a distance (lower = closer): scores are negated."""
        return -np.asarray(values, dtype=float) if self.kind == "score" else np.asarray(values, dtype=float)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("ftd", "Fisher Task Distance (Le et al. 2021): Hellinger distance of normalised FIM diagonals", False),
        Method("task2vec", "Task2Vec (Achille et al. 2019): cosine distance of normalised probe embeddings", True),
        Method("task2vec_asym", "Task2Vec asymmetric: d_sym(a, b) - alpha * d_sym(a, trivial)", False),
        Method("tanas", "TA-NAS complexity (Le et al. 2021): share of a feature map's weights that must remain",
               False),
        Method("coupled", "Coupled transfer distance (Gao & Chaudhari 2021): Fisher-Rao length of the path "
               "interpolating OT-coupled samples", False),
        Method("uncoupled", "Uncoupled transfer distance: the path on the mixture of the two tasks' samples", False),
        Method("finetune_length", "Fisher-Rao length of plain fine-tuning on the target (Gao & Chaudhari 2021)",
               False),
        Method("transfer_bound", "Transferability bound (Mehra et al. 2023): optimised upper bound on the target "
               "loss of the source head, linear transfer", False),
        Method("leep", "LEEP (Nguyen et al. 2020): log expected empirical prediction", False, "score"),
        Method("logme", "LogME (You et al. 2021): log marginal evidence of a linear model on features", False, "score"),
        Method("nce", "NCE (Tran et al. 2019): negative conditional entropy of target given source labels", False,
               "score"),
        Method("h_score", "H-score (Bao et al. 2019): tr(cov(f)^-1 cov(E[f|y]))", False, "score"),
    ]
}
SCORE_METHODS = tuple(name for name, m in METHODS.items() if m.kind == "score")

PATH_METHODS = ("coupled", "uncoupled", "finetune_length")
"""The path-length methods (:mod:`taskdist.methods.coupled`), one rule for the three."""

_PATH = ("samples", "steps", "steps_per_tau", "batch_size", "lr", "optimizer", "head")
PATH_READS = {"finetune_length": _PATH, "uncoupled": _PATH,
         "coupled": (*_PATH, "block", "outer", "entropy", "proximal")}
"""The settings (fields of :class:`~taskdist.specs.CoupledSpec`) each method reads: a job's params hold these
only, so changing the coupling's settings reruns no fine-tuning length."""


def path_reads(method: str, spec: CoupledSpec) -> dict:
    """The settings of ``spec`` that ``method`` reads, as plain builtins (a job's params)."""
    if method not in PATH_READS:
        raise ValueError(f"method must be one of {PATH_METHODS}, got {method!r}")
    return {key: getattr(spec, key) for key in PATH_READS[method]}
