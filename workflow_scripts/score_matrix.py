"""rule score_matrix: one transferability score over all ordered pairs (higher = better transfer)."""

import pandas as pd

from taskdist import io
from taskdist.runtime import log_to

log_to(snakemake.log[0])
name = snakemake.wildcards.score
rows = [
    {"source": a, "target": b, "value": io.read_json(path)[name]}
    for (a, b), path in zip(snakemake.params.pairs, snakemake.input)
]
io.write_matrix(pd.DataFrame(rows), snakemake.output[0])
