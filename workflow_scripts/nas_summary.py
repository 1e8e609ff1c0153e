"""rule nas_summary: one row per search (base tasks and the targets' searches, per seed), the anytime curves, the
claim's tables (cost to reach the full search's accuracy, paired comparisons at equal cost, winners' test
accuracy over seeds) and their figures."""

import logging

from taskdist import aggregates, plots
from taskdist.artifacts import io
from taskdist.nas import claim
from taskdist.runtime import finish, start

start(snakemake)
out, level, fraction = snakemake.output, snakemake.params.level, snakemake.params.compare_at
table = aggregates.nas_summary(snakemake.input)  # each record names its task, search and role, and has its seed
curves = aggregates.nas_curves(snakemake.input)
reach = claim.reach_table(curves, level=level)
paired = claim.paired_table(curves, fraction=fraction)
io.write_parquet(table, out.table, sort_by=["role", "task", "search", "seed"])
io.write_parquet(curves, out.curves, sort_by=["task", "search", "seed", "candidates_trained"])
io.write_parquet(reach, out.reach, sort_by=["target", "search"])
io.write_parquet(paired, out.paired, sort_by=["target", "against", "fraction"])
io.write_parquet(claim.winners_table(table), out.winners, sort_by=["target", "search"])
for line in claim.verdicts(reach, paired, fraction=fraction, level=level):
    logging.getLogger("taskdist").info("%s", line)
plots.nas_summary(table, path=out.plot)
plots.nas_curves(curves, path=out.curves_plot)
finish()
