"""rules score_matrix, tanas_matrix: one method's per-pair JSON values as a matrix ``source, target, value``."""

import pandas as pd

from taskdist import io
from taskdist.runtime import log_to

log_to(snakemake.log[0])
name = snakemake.params.name
rows = [
    {"source": a, "target": b, "value": io.read_json(path)[name]}
    for (a, b), path in zip(snakemake.params.pairs, snakemake.input, strict=True)
]
rows += [{"source": t, "target": t, "value": 0.0} for t in snakemake.params.zero_diagonal]  # 0 by definition
io.write_matrix(pd.DataFrame(rows), snakemake.output[0])
