"""rule score_matrix: one transferability score over every ordered pair, and the same with resampled targets."""

import pandas as pd

from taskdist import io
from taskdist.runtime import finish, start

start(snakemake)
score = snakemake.wildcards.score
table = pd.concat([io.read_parquet(p, ("source", "target", "sample", "method", "value")) for p in snakemake.input])
table = table[table["method"] == score]
for sample, path in (("task", snakemake.output.matrix), ("resample", snakemake.output.floor)):
    io.write_matrix(table[table["sample"] == sample][["source", "target", "value"]], path)
finish()
