"""rule bound_matrix: the transferability bound over every ordered pair (0 on the diagonal), its noise floor,
and the figure of its terms against the loss it bounds."""

from taskdist import aggregates, plots
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
matrix, floor = aggregates.transfer_bound(snakemake.input.pairs, snakemake.input.floors)
matrices.write(matrix, snakemake.output.matrix, method="transfer_bound")
matrices.write(floor, snakemake.output.floor, method="transfer_bound", kind="floor")
plots.bound_terms(aggregates.bound_terms(snakemake.input.pairs), path=snakemake.output.plot)
finish()
