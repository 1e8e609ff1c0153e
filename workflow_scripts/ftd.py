"""rule distance_matrix (ftd): Fisher Task Distance over every ordered pair of tasks, and its noise floor."""

from pathlib import Path

import pandas as pd

from taskdist import distances, io
from taskdist.runtime import finish, start

start(snakemake)


def pair_of(path):
    """``results/fisher/{net}/{data}.parquet`` -> ``(net, data)``: every Fisher table names its pair by its path."""
    path = Path(path)
    return path.parent.name, path.stem


fisher = {pair_of(p): distances.read_fisher_vector(p) for p in [*snakemake.input.pairs, *snakemake.input.floors]}
tasks = sorted({net for net, _ in map(pair_of, snakemake.input.pairs)})
io.write_matrix(distances.ftd_matrix(fisher, tasks), snakemake.output.matrix)
# d(a -> a'): N_a on its own task against N_a on an independent resample of it
floors = [
    {"source": net, "target": net, "value": distances.fisher_task_distance(fisher[(net, net)], fisher[(net, data)])}
    for net, data in map(pair_of, snakemake.input.floors)
]
io.write_matrix(pd.DataFrame(floors), snakemake.output.floor)
finish()
