"""rule train_probe: the Task2Vec probe network, trained on the union of the probe tasks."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, task_table
from taskdist.runtime import finish, start
from taskdist.specs import NetworkSpec, TaskSpec, TrainSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
probe_tasks = [from_params(TaskSpec, t) for t in spec["tasks"]]
files = iter(snakemake.input.datasets)  # each task's class files, task after task
trained = stages.train_probe(
    probe_tasks,
    [dataset.read([next(files) for _ in task.classes]) for task in probe_tasks],
    [task_table.read(path) for path in snakemake.input.tasks],
    from_params(NetworkSpec, spec["network"]),
    from_params(TrainSpec, spec["train"]),
    spec["seed"],
    device,
)
checkpoint.write(trained, snakemake.output[0])
finish()
