"""rule ftd_consistency: FTD from other task networks of the same tasks, and how well the matrices agree."""

from pathlib import Path

from taskdist import distances, evaluation, io
from taskdist.runtime import finish, start

start(snakemake)
p = snakemake.params
main = io.read_matrix(snakemake.input.matrix)
tasks = sorted(set(main["source"]))
matrices = {"ftd": io.to_square(main, order=tasks)}
fisher: dict[str, dict] = {}
for path in snakemake.input.pairs:  # results/fisher/{task}@{variant}/{data}.parquet
    net, data = Path(path).parent.name, Path(path).stem
    task, variant = net.split("@", 1)
    fisher.setdefault(variant, {})[(task, data)] = distances.read_fisher_vector(path)
for variant, pairs in sorted(fisher.items()):
    matrices[f"ftd@{variant}"] = io.to_square(distances.ftd_matrix(pairs, tasks), order=tasks)
table = evaluation.agreement_table(matrices, method=p.spec["method"], permutations=p.spec["permutations"], seed=p.seed)
io.write_parquet(table, snakemake.output[0])
finish()
