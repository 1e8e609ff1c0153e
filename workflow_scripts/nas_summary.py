"""rule nas_summary: one row per search (base tasks and the targets' three searches), and its figure."""

import json

import pandas as pd

from taskdist import io, plots
from taskdist.runtime import finish, start

VALUES = ("params", "val_accuracy", "test_accuracy", "candidates_trained", "search_seconds", "final_seconds")

start(snakemake)
rows = []
for path in snakemake.input:
    result = io.read_json(path)
    rows.append({
        "task": result["task"],
        "role": "base" if "/nas/base/" in path else "target",
        "search": result["search"],
        "bases": ",".join(result["bases"]),
        "ops": ",".join(result["space"]["ops"]),
        "genotype": json.dumps(result["genotype"], sort_keys=True, separators=(",", ":")),
        **{k: result[k] for k in VALUES},
    })  # fmt: skip
table = pd.DataFrame(rows)
io.write_parquet(table, snakemake.output.table, sort_by=["role", "task", "search"])
plots.nas_summary(table, path=snakemake.output.plot)
finish()
