"""rule scores: LEEP, LogME, NCE and H-score of every source network for one target (and its resample)."""

from pathlib import Path

from taskdist import checkpoint, data, io, stages, transfer
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
labelled = snakemake.params.spec["labelled"]  # per sample: None (the whole train split) or its budget
samples = {
    sample: transfer.labelled_examples(io.read_parquet(path, ("index", "label", "split")), labelled[sample])
    for sample, path in (("task", snakemake.input.task), ("resample", snakemake.input.resample))
}
checkpoints = {Path(path).stem: checkpoint.read(path) for path in snakemake.input.models}
table = stages.target_scores(checkpoints, data.load_npz(snakemake.input.dataset), samples, device)
io.write_parquet(table.assign(target=snakemake.wildcards.target), snakemake.output[0],
                 sort_by=["source", "sample", "method"])
finish()
