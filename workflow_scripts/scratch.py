"""rule scratch: train a fresh network on the same small budget of the target (the baseline of the gain)."""

from taskdist import data, io, stages
from taskdist.config import ArchSpec, TaskSpec, TransferSpec, from_params
from taskdist.runtime import log_to, torch_device

log_to(snakemake.log[0])
device = torch_device(snakemake.threads, snakemake.params.device)
spec = snakemake.params.spec
result = stages.transfer(
    None,
    from_params(TaskSpec, spec["target"]),
    data.load_npz(snakemake.input.dataset),
    io.read_parquet(snakemake.input.task, ("index", "label", "split")),
    from_params(ArchSpec, spec["network"]),
    from_params(TransferSpec, spec["transfer"]),
    spec["seed"],
    device,
)
io.write_json({"source": None, **result}, snakemake.output[0])
