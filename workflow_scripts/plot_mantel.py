"""rule plot_mantel: a method's matrix against the gain of transfer, with the Mantel result."""

from taskdist import evaluation, io, plots
from taskdist.runtime import log_to

log_to(snakemake.log[0])
method, tasks = snakemake.wildcards.method, snakemake.params.tasks
distance = evaluation.oriented(method, io.read_matrix(snakemake.input.matrix), tasks)
gain = io.to_square(io.read_transfer(snakemake.input.transfer), "gain", order=tasks)
rows = io.read_parquet(snakemake.input.mantel)
hit = rows[(rows["x"] == method) & (rows["y"] == "-gain")].iloc[0]
plots.mantel_scatter(
    distance,
    gain,
    path=snakemake.output[0],
    title=f"{method}: Mantel {hit['method']} r = {-hit['statistic']:.2f} with gain (p = {hit['p_value']:.3g})",
    xlabel=f"{method} (as a distance: lower = closer)",
    ylabel="gain of fine-tuning over scratch",
)
