"""rule ftd_consistency: FTD from other task networks of the same tasks, and how well the matrices agree."""

from taskdist import aggregates
from taskdist.artifacts import io
from taskdist.evaluation import tables
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
squares = aggregates.ftd_variants(snakemake.input.matrix, snakemake.input.pairs)  # tables of {task}@{variant} nets
table = tables.agreement_table(squares, method=p.spec["method"], permutations=p.spec["permutations"], seed=p.seed)
io.write_parquet(table, snakemake.output[0])
finish()
