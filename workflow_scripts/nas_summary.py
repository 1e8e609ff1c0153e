"""rule nas_summary: one row per search (base tasks and the targets' three searches), and its figure."""

from taskdist import aggregates, plots
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
table = aggregates.nas_summary(snakemake.input)  # each record names its task, search and role
io.write_parquet(table, snakemake.output.table, sort_by=["role", "task", "search"])
plots.nas_summary(table, path=snakemake.output.plot)
finish()
