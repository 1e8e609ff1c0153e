"""rule task2vec_trivial: the embedding of the trivial task t0 (asymmetric Task2Vec distance)."""

from taskdist import stages
from taskdist.artifacts import vectors
from taskdist.methods import task2vec
from taskdist.runtime import finish, start
from taskdist.specs import ProbeSpec, from_params

start(snakemake)
spec = snakemake.params.spec  # probe, estimator, beta: what the trivial embedding reads
probe_spec = from_params(ProbeSpec, spec["probe"])
probe = stages.task2vec_probe(probe_spec, snakemake.params.in_channels, snakemake.input.probe)
embedding = task2vec.trivial_embedding(probe, estimator=spec["estimator"], beta=spec["beta"])
vectors.write(embedding, snakemake.output[0], task=task2vec.TRIVIAL)
finish()
