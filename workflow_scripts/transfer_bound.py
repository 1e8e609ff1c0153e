"""rule transfer_bound: the transferability bound d(source -> target) and its terms."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.evaluation import transfer
from taskdist.runtime import finish, start
from taskdist.specs import BoundSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
table = task_table.read(snakemake.input.target_task)
data = dataset.read(snakemake.input.target_dataset)
values = stages.pair_bound(
    checkpoint.read(snakemake.input.source),
    (dataset.read(snakemake.input.source_dataset), task_table.read(snakemake.input.source_task)),
    (data, transfer.labelled_examples(table, spec["labelled"]), table),  # the bound reads the labelled ones
    from_params(BoundSpec, spec["bound"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "bound", source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
