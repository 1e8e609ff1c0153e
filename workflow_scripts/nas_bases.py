"""checkpoint nas_bases: the k base tasks nearest to a target by the configured distance method (and the k
farthest, for the ablation)."""

import logging

from taskdist.artifacts import matrices, records
from taskdist.evaluation import selection
from taskdist.methods.registry import METHODS
from taskdist.nas.replicates import farthest_bases
from taskdist.runtime import finish, start

start(snakemake)
target, method = snakemake.wildcards.target, snakemake.params.method
matrix = matrices.read_method(snakemake.input[0], method)
distances = matrix.assign(value=METHODS[method].as_distance(matrix["value"].to_numpy()))  # lower = closer
bases = selection.nearest_bases(distances, target, snakemake.params.bases, snakemake.params.k)
rows = distances[(distances["target"] == target) & distances["source"].isin(snakemake.params.bases)]
logging.getLogger("taskdist").info("nearest bases of %s by %s: %s", target, method, bases)
farthest = farthest_bases(distances, target, snakemake.params.bases, snakemake.params.k)
values = {
    "method": method,
    "bases": bases,
    "farthest": farthest,
    "distances": dict(zip(rows["source"], rows["value"], strict=True)),
}
records.write(values, snakemake.output[0], "bases", target=target)
finish()
