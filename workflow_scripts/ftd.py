"""rule distance_matrix (ftd): Fisher Task Distance over every ordered pair of tasks."""

import itertools

from taskdist import distances, io
from taskdist.runtime import log_to

log_to(snakemake.log[0])
tasks = snakemake.params.tasks
paths = dict(zip(itertools.product(tasks, tasks), snakemake.input, strict=True))
io.write_matrix(distances.ftd_from_files(paths, tasks), snakemake.output[0])
