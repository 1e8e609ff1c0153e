"""rule path_length: a path-length distance d(source -> target) (coupled, uncoupled or finetune_length)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.data import budget
from taskdist.methods import coupled
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = snakemake.params.spec
method = snakemake.wildcards.length
values = stages.pair_path(
    method,
    checkpoint.read(snakemake.input.source),
    (dataset.read(snakemake.input.source_dataset), task_table.read(snakemake.input.source_task)),
    (dataset.read(snakemake.input.target_dataset), task_table.read(snakemake.input.target_task)),
    budget.from_job_params(spec["labelled"]),  # of the target, only the labelled examples a user has
    coupled.spec_of(method, spec["coupled"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "path", method=method, source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
