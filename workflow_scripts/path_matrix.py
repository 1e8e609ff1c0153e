"""rule path_matrix: a path-length distance over every ordered pair (0 on the diagonal), and its noise floor."""

from taskdist import aggregates
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
method = snakemake.wildcards.length
matrix, floor = aggregates.path_lengths(method, snakemake.input.pairs, snakemake.input.floors)
matrices.write(matrix, snakemake.output.matrix, method=method)
matrices.write(floor, snakemake.output.floor, method=method, kind="floor")
finish()
