"""rule finetune: fine-tune N_source on a small budget of the target; also the cheap transferability scores."""

from taskdist import data, io, stages
from taskdist.config import ArchSpec, TaskSpec, TransferSpec, from_params
from taskdist.runtime import log_to, torch_device

log_to(snakemake.log[0])
device = torch_device(snakemake.threads, snakemake.params.device)
spec = snakemake.params.spec
checkpoint = io.load_checkpoint(snakemake.input.model, stages.CHECKPOINT_KEYS)
dataset = data.load_npz(snakemake.input.dataset)
table = io.read_parquet(snakemake.input.task, ("index", "label", "split"))
pair = {"source": snakemake.wildcards.source, "target": snakemake.wildcards.target}

scores = stages.pair_scores(checkpoint, dataset, table, device)
io.write_json({**pair, **scores}, snakemake.output.scores)

result = stages.transfer(
    checkpoint,
    from_params(TaskSpec, spec["target"]),
    dataset,
    table,
    from_params(ArchSpec, spec["network"]),
    from_params(TransferSpec, spec["transfer"]),
    spec["seed"],
    device,
)
io.write_json({**pair, **result}, snakemake.output.transfer)
