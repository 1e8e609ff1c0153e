"""rule tanas_matrix: TA-NAS complexity over every ordered pair (0 on the diagonal), and its noise floor."""

from taskdist import aggregates
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
matrix, floor = aggregates.tanas(snakemake.input.pairs, snakemake.input.floors)  # each record names its pair
matrices.write(matrix, snakemake.output.matrix, method="tanas")
matrices.write(floor, snakemake.output.floor, method="tanas", kind="floor")
finish()
