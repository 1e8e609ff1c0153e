"""rule task2vec_matrix: symmetric and asymmetric Task2Vec distances between all tasks, and their noise floors."""

from pathlib import Path

import pandas as pd

from taskdist import io, task2vec
from taskdist.config import RESAMPLE_SUFFIX
from taskdist.runtime import finish, start

start(snakemake)


def embeddings(paths):
    """``results/task2vec/{task}.parquet`` by task id."""
    return {Path(p).stem: task2vec.embedding_from_table(io.read_parquet(p)) for p in paths}


tasks = embeddings(snakemake.input.embeddings)
trivial = task2vec.embedding_from_table(io.read_parquet(snakemake.input.trivial))
sym, asym = task2vec.distance_matrices(tasks, trivial, snakemake.params.alpha)
io.write_matrix(sym, snakemake.output.sym)
io.write_matrix(asym, snakemake.output.asym)
# d(a, a'): each task against its independent resample
floors = {"sym": [], "asym": []}
for resampled, embedding in embeddings(snakemake.input.floors).items():
    task = resampled.removesuffix(RESAMPLE_SUFFIX)
    pair_sym, pair_asym = task2vec.distance_matrices({task: tasks[task], resampled: embedding}, trivial,
                                                     snakemake.params.alpha)
    for kind, frame in (("sym", pair_sym), ("asym", pair_asym)):
        value = frame[(frame["source"] == task) & (frame["target"] == resampled)]["value"].item()
        floors[kind].append({"source": task, "target": task, "value": value})
io.write_matrix(pd.DataFrame(floors["sym"]), snakemake.output.sym_floor)
io.write_matrix(pd.DataFrame(floors["asym"]), snakemake.output.asym_floor)
finish()
