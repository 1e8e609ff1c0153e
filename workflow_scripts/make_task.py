"""rule make_task: draw a task's examples and splits from its dataset."""

import logging

from taskdist import data, io, tasks
from taskdist.config import TaskSpec, from_params
from taskdist.runtime import log_to

log_to(snakemake.log[0])
spec = from_params(TaskSpec, snakemake.params.task)
table = tasks.materialize(spec, data.load_npz(snakemake.input.dataset).labels)
logging.getLogger("taskdist").info("task %s: %s", spec.id, table.groupby(["split", "label"]).size().to_dict())
io.write_parquet(table, snakemake.output[0], sort_by=["index"])
