"""rule plot_method: a method's heatmap, its task atlas (MDS) and its scatter against the gain of transfer."""

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

setting = snakemake.params.setting  # the first transfer setting: fine-tuning when it is computed
means = transfer.means(matrices.read_transfer(snakemake.input.transfer), setting)
gain = matrices.to_square(means, "gain", order=tasks)
rows = io.read_parquet(snakemake.input.mantel)
hit = rows[(rows["x"] == method.name) & (rows["y"] == "-gain") & (rows["setting"] == setting)].iloc[0]
plots.mantel_scatter(
    distance, gain, path=snakemake.output.mantel,
    title=f"{method.name}\nMantel {hit['method']} r = {hit['statistic']:.2f} vs -gain ({setting}, "
    f"one-sided p = {hit['p_value']:.3g})",
    xlabel=f"{method.name} (as a distance: lower = closer)", ylabel=f"gain of {setting} over scratch",
)
finish()
