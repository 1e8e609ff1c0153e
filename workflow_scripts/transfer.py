"""rules transfer, scratch: the ground truth of one ordered pair (or of training the target from scratch)."""

from taskdist.artifacts import checkpoint, dataset, records, task_table
from taskdist.evaluation import transfer
from taskdist.runtime import finish, start
from taskdist.specs import NetworkSpec, TaskSpec, TransferSpec, from_params

device = start(snakemake, torch=True)
spec = snakemake.params.spec
source = snakemake.wildcards.get("source")
runs = transfer.run(
    [checkpoint.read(path) for path in snakemake.input.models] if source else None,  # seeds 0, 1, ...
    from_params(TaskSpec, spec["target"]),
    dataset.read(snakemake.input.dataset),
    task_table.read(snakemake.input.task),
    from_params(NetworkSpec, spec["network"]) if "network" in spec else None,  # scratch only
    from_params(TransferSpec, spec["transfer"]),
    spec["seed"],
    device,
)
target = snakemake.wildcards.target
if source:
    records.write({"runs": runs}, snakemake.output[0], "transfer", source=source, target=target)
else:
    records.write({"runs": runs}, snakemake.output[0], "scratch", target=target)
finish()
