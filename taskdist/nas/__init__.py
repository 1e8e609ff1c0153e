"""Task-aware neural architecture search: a DARTS-style cell space, FUSE, baselines, TA-NAS distance.

Modules: :mod:`~taskdist.nas.ops` (edge operations), :mod:`~taskdist.nas.space`
(cells as JSON-able genotypes, search spaces), :mod:`~taskdist.nas.network`
(a network from a cell), :mod:`~taskdist.nas.fuse` (FUSE, random search,
final training), :mod:`~taskdist.nas.taskaware` (nearest base tasks, the
task-aware space, the per-target comparison) and
:mod:`~taskdist.nas.complexity` (the TA-NAS complexity distance).
"""

from taskdist.nas.complexity import complexity_distance
from taskdist.nas.fuse import Mixture, SearchResult, fuse, random_search, train_final
from taskdist.nas.network import Network, build, param_count
from taskdist.nas.ops import OP_NAMES, OPS
from taskdist.nas.space import Genotype, SearchSpace
from taskdist.nas.taskaware import SEARCHES, nearest_bases, run_search, task_aware_space
from taskdist.specs import FuseSpec, NetSpec

__all__ = [
    "OPS", "OP_NAMES", "SEARCHES", "FuseSpec", "Genotype", "Mixture", "NetSpec", "Network", "SearchResult",
    "SearchSpace", "build", "complexity_distance", "fuse", "nearest_bases",
    "param_count", "random_search", "run_search", "task_aware_space", "train_final",
]  # fmt: skip
