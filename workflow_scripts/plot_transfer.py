"""rule plot_transfer: heatmap of the transferred accuracy or the gain over training from scratch, per setting."""

from taskdist import plots
from taskdist.artifacts import matrices
from taskdist.evaluation import transfer
from taskdist.runtime import finish, start

start(snakemake)
setting, value = snakemake.wildcards.setting, snakemake.wildcards.value
means = transfer.means(matrices.read_transfer(snakemake.input[0]), setting)
matrix = matrices.to_square(means, value=value, order=snakemake.params.tasks)
what = {"finetune": "fine-tuned", "linear": "linear transfer (body frozen)"}[setting]
title = {"accuracy": f"{what}: target accuracy", "gain": f"{what}: gain over training from scratch"}[value]
spread = matrices.to_square(means, value=f"{value}_std", order=snakemake.params.tasks)
plots.heatmap(matrix, title=f"{title} (mean ± sd over {means['replicates'].max()} replicates)", spread=spread,
              path=snakemake.output[0])
finish()
