"""rule task2vec_matrix: symmetric and asymmetric Task2Vec distances between all tasks, and their noise floors."""

from taskdist import aggregates
from taskdist.artifacts import matrices
from taskdist.runtime import finish, start

start(snakemake)
out = aggregates.task2vec(  # each embedding names its task
    snakemake.input.embeddings, snakemake.input.floors, snakemake.input.trivial, snakemake.params.alpha
)
matrices.write(out["task2vec"], snakemake.output.sym, method="task2vec")
matrices.write(out["task2vec_asym"], snakemake.output.asym, method="task2vec_asym")
matrices.write(out["task2vec_floor"], snakemake.output.sym_floor, method="task2vec", kind="floor")
matrices.write(out["task2vec_asym_floor"], snakemake.output.asym_floor, method="task2vec_asym", kind="floor")
finish()
