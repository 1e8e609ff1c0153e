"""rule tanas: TA-NAS complexity d(source -> target) from both task networks on the target's data."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.runtime import finish, start
from taskdist.specs import TanasSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
value = stages.pair_complexity(
    checkpoint.read(snakemake.input.source),
    checkpoint.read(snakemake.input.target),
    dataset.read(snakemake.input.dataset),
    task_table.read(snakemake.input.task),
    from_params(TanasSpec, spec["spec"]),
    spec["seed"],
    device,
)
records.write({"tanas": value}, snakemake.output[0], "tanas", source=snakemake.wildcards.source,
              target=snakemake.wildcards.target)
finish()
