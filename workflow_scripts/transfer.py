"""rules transfer, scratch: the ground truth of one ordered pair (or of training the target from scratch)."""

from taskdist import checkpoint, data, io, transfer
from taskdist.config import ArchSpec, TaskSpec, TransferSpec, from_params
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = snakemake.params.spec
source = snakemake.wildcards.get("source")
runs = transfer.run(
    checkpoint.read(snakemake.input.model) if source else None,
    from_params(TaskSpec, spec["target"]),
    data.load_npz(snakemake.input.dataset),
    io.read_parquet(snakemake.input.task, ("index", "label", "split")),
    from_params(ArchSpec, spec["network"]),
    from_params(TransferSpec, spec["transfer"]),
    spec["seed"],
    device,
)
io.write_json({"source": source, "target": snakemake.wildcards.target, "runs": runs}, snakemake.output[0])
finish()
