"""rule mantel: every method against the ground truth of transfer, and every pair of methods."""

from taskdist import aggregates
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
table = aggregates.mantel(  # each matrix names its method
    snakemake.input.matrices,
    snakemake.input.transfer,
    p.tasks,
    method=p.spec["method"],
    permutations=p.spec["permutations"],
    seed=p.seed,
)
io.write_parquet(table, snakemake.output[0])
finish()
