"""rule transfer_matrix: the ground truth of transfer over all ordered pairs."""

from taskdist import io, stages
from taskdist.runtime import log_to

log_to(snakemake.log[0])
pairs = {tuple(pair): io.read_json(path) for pair, path in zip(snakemake.params.pairs, snakemake.input.pairs)}
scratch = {task: io.read_json(path) for task, path in zip(snakemake.params.tasks, snakemake.input.scratch)}
io.write_matrix(stages.transfer_table(pairs, scratch), snakemake.output[0])
