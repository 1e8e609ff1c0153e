"""rule ftd_consistency: FTD from other task networks of the same tasks, and how well the matrices agree."""

import itertools
from pathlib import Path

import pandas as pd

from taskdist import distances, io
from taskdist.mantel import mantel
from taskdist.runtime import log_to

log_to(snakemake.log[0])
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
rows = []
for x, y in itertools.combinations(matrices, 2):
    result = mantel(matrices[x].to_numpy(), matrices[y].to_numpy(), method=p.spec["method"],
                    permutations=p.spec["permutations"], seed=p.seed)
    rows.append({"x": x, "y": y, **result.to_dict()})
io.write_parquet(pd.DataFrame(rows), snakemake.output[0])
