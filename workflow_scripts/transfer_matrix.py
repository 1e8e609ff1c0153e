"""rule transfer_matrix: the ground truth over all ordered pairs, every replicate, and its reliability."""

from taskdist import aggregates
from taskdist.artifacts import io, matrices
from taskdist.evaluation import reliability
from taskdist.runtime import finish, start

start(snakemake)
table = aggregates.transfer_table(snakemake.input.pairs, snakemake.input.scratch)  # each record names its pair
matrices.write_transfer(table, snakemake.output.table)
io.write_parquet(reliability.reliability_table(table, seed=snakemake.params.seed), snakemake.output.reliability)
finish()
