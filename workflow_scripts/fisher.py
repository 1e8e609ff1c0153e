"""rule fisher: diagonal FIM of the body of N_net on the data of task `data`."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, task_table, vectors
from taskdist.data import budget
from taskdist.runtime import finish, start
from taskdist.specs import FisherSpec, TaskSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
fisher = stages.pair_fisher(
    checkpoint.read(snakemake.input.model),
    from_params(TaskSpec, spec["data_task"]),
    dataset.read(snakemake.input.dataset),
    task_table.read(snakemake.input.task),
    budget.from_job_params(spec["labelled"]),  # on another task's data, its labelled budget; on its own, None
    from_params(FisherSpec, spec["fisher"]),
    spec["seed"],
    device,
)
vectors.write(fisher, snakemake.output[0], net=snakemake.wildcards.net, data=snakemake.wildcards.data)
finish()
