"""rule transfer_bound: the transferability bound d(source -> target) and its terms."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.data import budget
from taskdist.runtime import finish, start
from taskdist.specs import BoundSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
values = stages.pair_bound(
    checkpoint.read(snakemake.input.source),
    (dataset.read(snakemake.input.source_dataset), task_table.read(snakemake.input.source_task)),
    (dataset.read(snakemake.input.target_dataset), task_table.read(snakemake.input.target_task)),
    budget.from_job_params(spec["labelled"]),  # the bound reads the target's labelled examples
    from_params(BoundSpec, spec["bound"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "bound", source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
