"""rule task2vec_embed: the Task2Vec embedding of one task through the probe."""

from taskdist import stages
from taskdist.artifacts import dataset, task_table, vectors
from taskdist.data import budget
from taskdist.runtime import finish, start
from taskdist.specs import HeadSpec, ProbeSpec, TaskSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
t2v = spec["task2vec"]  # probe, estimator, head, samples, beta: what an embedding reads
task = from_params(TaskSpec, spec["task"])
data = dataset.read(snakemake.input.dataset)
probe_spec = from_params(ProbeSpec, t2v["probe"])
probe = stages.task2vec_probe(probe_spec, data.images.shape[1], snakemake.input.probe)
embedding = stages.task2vec_embedding(
    probe,
    task,
    data,
    task_table.read(snakemake.input.task),
    budget.from_job_params(spec["labelled"]),
    estimator=t2v["estimator"],
    head=from_params(HeadSpec, t2v["head"]),
    samples=t2v["samples"],
    beta=t2v["beta"],
    seed=spec["seed"],
    device=device,
)
vectors.write(embedding, snakemake.output[0], task=task.id)
finish()
