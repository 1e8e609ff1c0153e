"""rule transfer_bound: the transferability bound d(source -> target) and its terms."""

from taskdist import stages
from taskdist.artifacts import checkpoint, records
from taskdist.data import budget, datasets, tasks
from taskdist.runtime import finish, start
from taskdist.specs import BoundSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
values = stages.pair_bound(
    checkpoint.read(snakemake.input.source),
    (datasets.load_npz(snakemake.input.source_dataset), tasks.read_table(snakemake.input.source_task)),
    (datasets.load_npz(snakemake.input.target_dataset), tasks.read_table(snakemake.input.target_task)),
    budget.from_job_params(spec["labelled"]),  # the bound reads the target's labelled examples
    from_params(BoundSpec, spec["bound"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "bound", source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
