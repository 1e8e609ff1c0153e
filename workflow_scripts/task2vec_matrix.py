"""rule task2vec_matrix: symmetric and asymmetric Task2Vec distances between all tasks."""

from taskdist import io, task2vec
from taskdist.runtime import log_to

log_to(snakemake.log[0])
read = task2vec.embedding_from_table
embeddings = {t: read(io.read_parquet(p)) for t, p in zip(snakemake.params.tasks, snakemake.input.embeddings)}
sym, asym = task2vec.distance_matrices(
    embeddings, read(io.read_parquet(snakemake.input.trivial)), snakemake.params.alpha
)
io.write_matrix(sym, snakemake.output.sym)
io.write_matrix(asym, snakemake.output.asym)
