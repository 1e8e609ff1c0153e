"""rule scores: LEEP, LogME, NCE and H-score of every source network for one target (and its resample)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, matrices, task_table
from taskdist.evaluation import transfer
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
labelled = snakemake.params.spec["labelled"]  # per sample: None (the whole train split) or its budget
samples = {
    sample: transfer.labelled_examples(task_table.read(path), labelled[sample])
    for sample, path in (("task", snakemake.input.task), ("resample", snakemake.input.resample))
}
checkpoints = checkpoint.read_all(snakemake.input.models)  # by the task each network was trained on
table = stages.target_scores(checkpoints, dataset.read(snakemake.input.dataset), samples, device)
matrices.write_scores(table, snakemake.output[0], target=snakemake.wildcards.target)
finish()
