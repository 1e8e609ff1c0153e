"""rule mantel: every method against the ground truth of transfer, and every pair of methods."""

from pathlib import Path

from taskdist import evaluation, io
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
matrices = {Path(path).stem: io.read_matrix(path) for path in snakemake.input.matrices}  # {method}.parquet
table = evaluation.mantel_table(
    matrices,
    io.read_transfer(snakemake.input.transfer),
    p.tasks,
    method=p.spec["method"],
    permutations=p.spec["permutations"],
    seed=p.seed,
)
io.write_parquet(table, snakemake.output[0])
finish()
