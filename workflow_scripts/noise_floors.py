"""rule noise_floors: every method's noise floor (task against its resample) beside its spread, per method (between
tasks and within targets) and per method and target."""

from taskdist import aggregates
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
table, per_target = aggregates.noise_floors(snakemake.input.matrices, snakemake.input.floors)
io.write_parquet(table, snakemake.output.table)
io.write_parquet(per_target, snakemake.output.targets)
finish()
