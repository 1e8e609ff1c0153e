"""rules train_task, train_variant: train a task network N_task from scratch (a variant: another seed or shape)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, task_table
from taskdist.runtime import finish, start
from taskdist.specs import NetworkSpec, TaskSpec, TrainSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
trained = stages.train_task(
    from_params(TaskSpec, spec["task"]),
    dataset.read(snakemake.input.dataset),
    task_table.read(snakemake.input.task),
    from_params(NetworkSpec, spec["network"]),
    from_params(TrainSpec, spec["train"]),
    device,
    seed=spec.get("seed"),
)
checkpoint.write(trained, snakemake.output[0])
finish()
