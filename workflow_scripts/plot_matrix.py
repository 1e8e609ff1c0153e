"""rule plot_matrix: heatmap of a task x task matrix for `snakemake --report`."""

from taskdist import io, plots
from taskdist.runtime import log_to

log_to(snakemake.log[0])
matrix = io.to_square(io.read_matrix(snakemake.input[0]), order=snakemake.params.tasks)
plots.heatmap(matrix, title=snakemake.wildcards.method, path=snakemake.output[0])
