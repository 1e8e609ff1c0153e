"""rule make_task: draw a task's examples, each split from its dataset's matching pool."""

import logging

from taskdist.artifacts import dataset, task_table
from taskdist.data import tasks
from taskdist.runtime import finish, start
from taskdist.specs import TaskSpec, from_params

start(snakemake)
spec = from_params(TaskSpec, snakemake.params.task)
data = dataset.read(snakemake.input.dataset)
table = tasks.materialize(spec, data.labels, data.pool, data.ids)
logging.getLogger("taskdist").info("task %s: %s", spec.id, table.groupby(["split", "label"]).size().to_dict())
task_table.write(table, snakemake.output[0], task=spec.id)
finish()
