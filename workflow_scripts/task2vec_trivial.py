"""rule task2vec_trivial: the embedding of the trivial task t0 (asymmetric Task2Vec distance)."""

from taskdist import io, stages, task2vec
from taskdist.config import Task2VecSpec, from_params
from taskdist.runtime import finish, start

start(snakemake)
spec = from_params(Task2VecSpec, snakemake.params.spec)
probe = stages.task2vec_probe(spec, snakemake.params.in_channels, snakemake.input.probe)
embedding = task2vec.trivial_embedding(probe, estimator=spec.estimator, beta=spec.beta)
io.write_parquet(task2vec.embedding_table(embedding), snakemake.output[0])
finish()
