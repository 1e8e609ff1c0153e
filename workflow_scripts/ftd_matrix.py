"""rule ftd_matrix: Fisher Task Distance over every ordered pair of tasks, and its noise floor."""

from taskdist import aggregates
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
matrix, floor = aggregates.ftd(snakemake.input.pairs, snakemake.input.floors)  # each table names its (net, data)
matrices.write(matrix, snakemake.output.matrix, method="ftd")
matrices.write(floor, snakemake.output.floor, method="ftd", kind="floor")
finish()
