"""rule plot_atlas: 2-D MDS map of the tasks from one method's matrix."""

from taskdist import evaluation, io, plots
from taskdist.runtime import log_to

log_to(snakemake.log[0])
method = snakemake.wildcards.method
square = evaluation.oriented(method, io.read_matrix(snakemake.input[0]), snakemake.params.tasks)
plots.atlas(square, title=f"task atlas ({method}, MDS)", path=snakemake.output[0], seed=snakemake.params.seed)
