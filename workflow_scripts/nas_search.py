"""rules nas_base, nas_target: one architecture search on a task (one seed), its winner trained from scratch and
tested."""

from taskdist import aggregates, stages
from taskdist.artifacts import dataset, records, task_table
from taskdist.runtime import finish, start
from taskdist.specs import FuseSpec, TaskSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
task, search = from_params(TaskSpec, spec["task"]), snakemake.params.search
role = {"nas_base": "base", "nas_target": "target"}[snakemake.rule]
result = stages.nas_search(
    search,
    task,
    dataset.read(snakemake.input.dataset),
    task_table.read(snakemake.input.task),
    from_params(FuseSpec, spec["search"]),
    spec["seed"],
    device,
    base_cells=aggregates.base_cells(snakemake.input.get("bases", [])) or None,  # each record names its task
    final_seeds=spec["final_seeds"],
)
names = {"task": result.pop("task"), "search": result.pop("search"), "role": role}
records.write({**result, "seed": spec["replicate"]}, snakemake.output[0], "search", **names)
finish()
