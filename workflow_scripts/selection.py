"""rule selection: rank sources per target by each method; regret and rank correlations vs the truth."""

from taskdist import aggregates
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
table = aggregates.selection(snakemake.input.matrices, snakemake.input.transfer, p.tasks, seed=p.seed,
                             model_paths=snakemake.input.models, task_paths=snakemake.input.tasks)
io.write_parquet(table, snakemake.output[0])
finish()
