"""checkpoint nas_bases: the k base tasks nearest to a target by the configured distance method."""

import logging

from taskdist import io, selection
from taskdist.distances import METHODS
from taskdist.runtime import finish, start

start(snakemake)
target, method = snakemake.wildcards.target, snakemake.params.method
matrix = io.read_matrix(snakemake.input[0])
distances = matrix.assign(value=METHODS[method].as_distance(matrix["value"].to_numpy()))  # lower = closer
bases = selection.nearest_bases(distances, target, snakemake.params.bases, snakemake.params.k)
rows = distances[(distances["target"] == target) & distances["source"].isin(snakemake.params.bases)]
logging.getLogger("taskdist").info("nearest bases of %s by %s: %s", target, method, bases)
io.write_json(
    {"target": target, "method": method, "bases": bases, "distances": dict(zip(rows["source"], rows["value"]))},
    snakemake.output[0],
)
finish()
