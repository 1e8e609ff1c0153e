"""rule plot_method: a method's heatmap, its task atlas (MDS) and its scatter against the gain of transfer (one
panel per transfer setting)."""

import numpy as np

from taskdist import plots
from taskdist.artifacts import io, matrices
from taskdist.evaluation import tables, transfer
from taskdist.methods.registry import METHODS
from taskdist.runtime import finish, start

start(snakemake)
method, tasks = METHODS[snakemake.wildcards.method], snakemake.params.tasks
matrix = matrices.read_method(snakemake.input.matrix, method.name)

kind = "higher = better transfer expected" if method.kind == "score" else "d(source -> target)"
plots.heatmap(matrices.to_square(matrix, order=tasks), title=f"{method.name}: {kind}", path=snakemake.output.heatmap)

distance = tables.oriented(method.name, matrix, tasks)
plots.atlas(distance, title=f"task atlas ({method.name}, MDS)", path=snakemake.output.atlas,
            seed=snakemake.params.seed)

transfer_table = matrices.read_transfer(snakemake.input.transfer)
rows = io.read_parquet(snakemake.input.mantel)
panels = []
for setting in snakemake.params.settings:  # every transfer setting: one panel each
    means = transfer.means(transfer_table, setting)
    hit = rows[(rows["x"] == method.name) & (rows["y"] == "-gain") & (rows["setting"] == setting)].iloc[0]
    panels.append(plots.Panel(
        mean=matrices.to_square(means, "gain", order=tasks), std=matrices.to_square(means, "gain_std", order=tasks),
        title=f"{setting}: Mantel {hit['method']} r = {hit['statistic']:.2f} vs -gain, {hit['level']:.0%} CI "
              + (f"[{hit['ci_low']:.2f}, {hit['ci_high']:.2f}]" if np.isfinite([hit["ci_low"], hit["ci_high"]]).all()
                 else "undefined")
              + f", p = {hit['p_value']:.3g}, Holm p = {hit['p_holm']:.3g}",
        ylabel=f"gain of {setting} over scratch (mean ± sd over replicates)",
    ))
plots.mantel_scatter(distance, panels, path=snakemake.output.mantel, title=f"{method.name} against the ground truth",
                     xlabel=f"{method.name} (as a distance: lower = closer)")
finish()
