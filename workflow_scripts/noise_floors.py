"""rule noise_floors: every method's noise floor (task against its resample) beside its between-task spread."""

from taskdist import aggregates
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
io.write_parquet(aggregates.noise_floors(snakemake.input.matrices, snakemake.input.floors), snakemake.output[0])
finish()
