"""rules nas_base, nas_target: one architecture search on a task, its winner trained from scratch and tested."""

from taskdist import data, io, stages
from taskdist.config import FuseSpec, TaskSpec, from_params
from taskdist.runtime import finish, start

device = start(snakemake, torch=True)
spec = snakemake.params.spec
bases = [io.read_json(path) for path in snakemake.input.get("bases", [])]
result = stages.nas_search(
    snakemake.params.search,
    from_params(TaskSpec, spec["task"]),
    data.load_npz(snakemake.input.dataset),
    io.read_parquet(snakemake.input.task, ("index", "label", "split")),
    from_params(FuseSpec, spec["search"]),
    spec["seed"],
    device,
    base_cells={b["task"]: b for b in bases} or None,
)
io.write_json(result, snakemake.output[0])
finish()
