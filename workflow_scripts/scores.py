"""rule scores: LEEP, LogME, NCE and H-score of every source network for one target (and its resample)."""

from taskdist import stages
from taskdist.artifacts import checkpoint, dataset, matrices, task_table
from taskdist.data import budget
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
labelled = snakemake.params.spec["labelled"]  # per sample: its labelled budget, or None (the whole train split)
samples = {"task": task_table.read(snakemake.input.task), "resample": task_table.read(snakemake.input.resample)}
budgets = {sample: budget.from_job_params(labelled[sample]) for sample in samples}
checkpoints = checkpoint.read_all(snakemake.input.models)  # by the task each network was trained on
table = stages.target_scores(checkpoints, dataset.read(snakemake.input.dataset), samples, budgets, device)
matrices.write_scores(table, snakemake.output[0], target=snakemake.wildcards.target)
finish()
