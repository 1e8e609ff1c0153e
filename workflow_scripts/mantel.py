"""rule mantel: every method against the ground truth of transfer, and every pair of methods; the two best compared."""

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
    resamples=p.spec["resamples"],
    level=p.spec["level"],
)
io.write_parquet(table, snakemake.output.table)
comparison = aggregates.mantel_comparison(
    snakemake.input.matrices,
    snakemake.input.transfer,
    p.tasks,
    method=p.spec["method"],
    seed=p.seed,
    resamples=p.spec["resamples"],
    level=p.spec["level"],
)
io.write_parquet(comparison, snakemake.output.comparison)
finish()
