"""rule plot_matrix: heatmap of a task x task matrix for `snakemake --report`."""

from taskdist import io, plots
from taskdist.distances import METHODS
from taskdist.runtime import log_to

log_to(snakemake.log[0])
method = METHODS[snakemake.wildcards.method]
matrix = io.to_square(io.read_matrix(snakemake.input[0]), order=snakemake.params.tasks)
kind = "higher = better transfer expected" if method.kind == "score" else "d(source -> target)"
plots.heatmap(matrix, title=f"{method.name}: {kind}", path=snakemake.output[0])
