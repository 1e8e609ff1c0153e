"""rule noise_floors: every method's noise floor (task against its resample) beside its between-task spread."""

from pathlib import Path

import pandas as pd

from taskdist import floors, io
from taskdist.distances import METHODS
from taskdist.runtime import finish, start

start(snakemake)
matrices = {Path(p).stem: io.read_matrix(p) for p in snakemake.input.matrices}
rows = []
for path in snakemake.input.floors:
    name = Path(path).stem
    resampled = io.read_matrix(path)
    if METHODS[name].kind == "score":
        result = floors.score_floor(matrices[name], resampled)
    else:
        result = floors.distance_floor(matrices[name], dict(zip(resampled["source"], resampled["value"], strict=True)))
    rows.append({"method": name, "kind": METHODS[name].kind, **result})
io.write_parquet(pd.DataFrame(rows, columns=list(floors.COLUMNS)), snakemake.output[0])
finish()
