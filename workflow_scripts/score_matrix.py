"""rule score_matrix: one transferability score over every ordered pair, and the same with resampled targets."""

from taskdist import aggregates
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
score = snakemake.wildcards.score
matrix, floor = aggregates.scores(snakemake.input, score)  # each table names its target
matrices.write(matrix, snakemake.output.matrix, method=score)
matrices.write(floor, snakemake.output.floor, method=score, kind="floor")
finish()
