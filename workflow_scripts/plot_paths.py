"""rule plot_paths: a few transfer paths, cumulative length against tau, for every path-length method."""

from taskdist import aggregates, plots
from taskdist.runtime import finish, start

start(snakemake)
plots.path_traces(aggregates.path_traces(snakemake.input), path=snakemake.output[0])
finish()
