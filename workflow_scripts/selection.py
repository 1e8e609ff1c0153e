"""rule selection: rank sources per target by each method; regret and rank correlations vs the truth."""

from pathlib import Path

from taskdist import evaluation, io
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
matrices = {Path(path).stem: io.read_matrix(path) for path in snakemake.input.matrices}  # {method}.parquet
table = evaluation.selection_table(matrices, io.read_transfer(snakemake.input.transfer), p.tasks, seed=p.seed)
io.write_parquet(table, snakemake.output[0])
finish()
