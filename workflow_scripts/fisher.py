"""rule fisher: diagonal FIM of the body of N_net on the data of task `data`."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, task_table, vectors
from taskdist.evaluation import transfer
from taskdist.runtime import finish, start
from taskdist.specs import FisherSpec, TaskSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
# on another task's data, only the labelled target examples a user has
table = transfer.labelled_examples(task_table.read(snakemake.input.task),
                                   spec["labelled"])
fisher = stages.pair_fisher(
    checkpoint.read(snakemake.input.model),
    from_params(TaskSpec, spec["data_task"]),
    dataset.read(snakemake.input.dataset),
    table,
    from_params(FisherSpec, spec["fisher"]),
    spec["seed"],
    device,
)
vectors.write(fisher, snakemake.output[0], net=snakemake.wildcards.net, data=snakemake.wildcards.data)
finish()
