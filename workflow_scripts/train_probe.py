"""rule train_probe: the Task2Vec probe network, trained on the union of the probe tasks."""

from taskdist import data, io, stages, tasks
from taskdist.runtime import finish, start
from taskdist.specs import NetworkSpec, TaskSpec, TrainSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
checkpoint = stages.train_probe(
    [from_params(TaskSpec, t) for t in spec["tasks"]],
    [data.load_npz(path) for path in snakemake.input.datasets],
    [tasks.read_table(path) for path in snakemake.input.tasks],
    from_params(NetworkSpec, spec["network"]),
    from_params(TrainSpec, spec["train"]),
    spec["seed"],
    device,
)
io.save_checkpoint(checkpoint, snakemake.output[0])
finish()
