"""Task-aware neural architecture search: a DARTS-style cell space, FUSE and its baselines.

Modules: :mod:`~taskdist.nas.ops` (edge operations), :mod:`~taskdist.nas.space`
(cells as JSON-able genotypes, search spaces), :mod:`~taskdist.nas.network`
(a network from a cell), :mod:`~taskdist.nas.fuse` (FUSE, random search,
final training) and :mod:`~taskdist.nas.taskaware` (nearest base tasks, the
task-aware space, the per-target comparison). The TA-NAS complexity distance
is a method: :mod:`taskdist.methods.tanas`.
"""
