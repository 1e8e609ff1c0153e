"""rule transfer_matrix: the ground truth over all ordered pairs, every replicate, and its reliability."""

from taskdist import io, reliability, transfer
from taskdist.runtime import finish, start

start(snakemake)
pairs = [io.read_json(path) for path in snakemake.input.pairs]
table = transfer.table(pairs, [io.read_json(path) for path in snakemake.input.scratch])
io.write_parquet(table, snakemake.output.table)
io.write_parquet(reliability.reliability_table(table, seed=snakemake.params.seed), snakemake.output.reliability)
finish()
