"""rule prepare_dataset: load a dataset source and store its canonical arrays."""

from taskdist import data
from taskdist.config import DatasetSpec, from_params
from taskdist.runtime import log_to

log_to(snakemake.log[0])
spec = from_params(DatasetSpec, snakemake.params.spec["dataset"])
image = from_params(data.ImageSpec, snakemake.params.spec["image"])
data.save_npz(snakemake.output[0], data.load(spec.name, image, root=spec.root, download=spec.download))
