"""rule task2vec_embed: the Task2Vec embedding of one task through the probe."""

from taskdist import data, io, stages, transfer
from taskdist.config import Task2VecSpec, TaskSpec, from_params
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = from_params(Task2VecSpec, snakemake.params.spec["task2vec"])
dataset = data.load_npz(snakemake.input.dataset)
probe = stages.task2vec_probe(spec, dataset.images.shape[1], snakemake.input.probe)
table = transfer.labelled_examples(io.read_parquet(snakemake.input.task, ("index", "label", "split")),
                                   snakemake.params.spec["labelled"])
table = stages.task2vec_embedding(
    probe,
    from_params(TaskSpec, snakemake.params.spec["task"]),
    dataset,
    table,
    spec,
    snakemake.params.spec["seed"],
    device,
)
io.write_parquet(table, snakemake.output[0])
finish()
