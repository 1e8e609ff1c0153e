"""rule path_length: a path-length distance d(source -> target) (coupled, uncoupled or finetune_length)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.evaluation import transfer
from taskdist.methods import coupled
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = snakemake.params.spec
method = snakemake.wildcards.length
# of the target, only the labelled examples a user has
target_table = transfer.labelled_examples(task_table.read(snakemake.input.target_task), spec["labelled"])
values = stages.pair_path(
    method,
    checkpoint.read(snakemake.input.source),
    (dataset.read(snakemake.input.source_dataset), task_table.read(snakemake.input.source_task)),
    (dataset.read(snakemake.input.target_dataset), target_table),
    coupled.spec_of(method, spec["coupled"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "path", method=method, source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
