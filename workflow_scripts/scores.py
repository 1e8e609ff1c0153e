"""rule scores: LEEP, LogME, NCE and H-score of N_source for the target task."""

from taskdist import data, io, stages
from taskdist.runtime import log_to, torch_device

log_to(snakemake.log[0])
device = torch_device(snakemake.threads, snakemake.params.device)
values = stages.pair_scores(
    io.load_checkpoint(snakemake.input.model, stages.CHECKPOINT_KEYS),
    data.load_npz(snakemake.input.dataset),
    io.read_parquet(snakemake.input.task, ("index", "label", "split")),
    device,
)
io.write_json(
    {"source": snakemake.wildcards.source, "target": snakemake.wildcards.target, **values}, snakemake.output[0]
)
