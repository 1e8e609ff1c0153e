"""rule tanas_matrix: TA-NAS complexity over every ordered pair (0 on the diagonal), and its noise floor."""

import pandas as pd

from taskdist import io
from taskdist.config import RESAMPLE_SUFFIX
from taskdist.runtime import finish, start

start(snakemake)
pairs = [io.read_json(p) for p in snakemake.input.pairs]  # each names its source and target
rows = [{"source": r["source"], "target": r["target"], "value": r["tanas"]} for r in pairs]
tasks = sorted({r["source"] for r in rows})
rows += [{"source": t, "target": t, "value": 0.0} for t in tasks]  # 0 by definition
io.write_matrix(pd.DataFrame(rows), snakemake.output.matrix)
floors = [io.read_json(p) for p in snakemake.input.floors]
floor_rows = [{"source": r["source"], "target": r["target"].removesuffix(RESAMPLE_SUFFIX), "value": r["tanas"]}
              for r in floors]
io.write_matrix(pd.DataFrame(floor_rows), snakemake.output.floor)
finish()
