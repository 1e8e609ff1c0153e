"""rule fisher: diagonal FIM of the body of N_net on the data of task `data`."""

from taskdist import data, io, stages
from taskdist.config import FisherSpec, TaskSpec, from_params
from taskdist.runtime import log_to, torch_device

log_to(snakemake.log[0])
device = torch_device(snakemake.threads, snakemake.params.device)
spec = snakemake.params.spec
table = stages.pair_fisher(
    io.load_checkpoint(snakemake.input.model, stages.CHECKPOINT_KEYS),
    from_params(TaskSpec, spec["data_task"]),
    data.load_npz(snakemake.input.dataset),
    io.read_parquet(snakemake.input.task, ("index", "label", "split")),
    from_params(FisherSpec, spec["fisher"]),
    spec["seed"],
    device,
)
io.write_parquet(table, snakemake.output[0])
