"""rule make_task: draw a task's examples, each split from its dataset's matching pool."""

import logging

from taskdist.data import datasets, tasks
from taskdist.runtime import finish, start
from taskdist.specs import TaskSpec, from_params

start(snakemake)
spec = from_params(TaskSpec, snakemake.params.task)
dataset = datasets.load_npz(snakemake.input.dataset)
table = tasks.materialize(spec, dataset.labels, dataset.pool, dataset.ids)
logging.getLogger("taskdist").info("task %s: %s", spec.id, table.groupby(["split", "label"]).size().to_dict())
tasks.write_table(table, snakemake.output[0])
finish()
