"""rule prepare_dataset: load a dataset source, assign its images to pools and store its canonical arrays."""

from taskdist import data
from taskdist.runtime import finish, start
from taskdist.specs import DatasetSpec, from_params

start(snakemake)
spec = from_params(DatasetSpec, snakemake.params.spec["dataset"])
image = from_params(data.ImageSpec, snakemake.params.spec["image"])
seed = snakemake.params.spec["seed"]  # the experiment seed: pools are the same for every task
ds = data.load(spec.name, image, split=spec.split, seed=seed, root=spec.root, download=spec.download)
data.save_npz(snakemake.output[0], ds)
finish()
