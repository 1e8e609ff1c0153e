"""rule plot_transfer: heatmap of the fine-tuned accuracy or the gain over training from scratch."""

from taskdist import io, plots
from taskdist.runtime import log_to

log_to(snakemake.log[0])
value = snakemake.wildcards.value
matrix = io.to_square(io.read_transfer(snakemake.input[0]), value=value, order=snakemake.params.tasks)
title = {"accuracy": "fine-tuned target accuracy", "gain": "gain over training from scratch"}[value]
plots.heatmap(matrix, title=title, path=snakemake.output[0])
