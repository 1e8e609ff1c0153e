"""rule path_length: a path-length distance d(source -> target) (coupled, uncoupled or finetune_length)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, records
from taskdist.data import budget, datasets, tasks
from taskdist.methods import coupled
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = snakemake.params.spec
method = snakemake.wildcards.length
values = stages.pair_path(
    method,
    checkpoint.read(snakemake.input.source),
    (datasets.load_npz(snakemake.input.source_dataset), tasks.read_table(snakemake.input.source_task)),
    (datasets.load_npz(snakemake.input.target_dataset), tasks.read_table(snakemake.input.target_task)),
    budget.from_job_params(spec["labelled"]),  # of the target, only the labelled examples a user has
    coupled.spec_of(method, spec["coupled"]),
    spec["seed"],
    device,
)
records.write(values, snakemake.output[0], "path", method=method, source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
