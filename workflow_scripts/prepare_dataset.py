"""rule prepare_dataset: load one class of a dataset source, assign its images to pools and store its canonical
arrays."""

from taskdist.artifacts import dataset
from taskdist.data import datasets
from taskdist.runtime import finish, start
from taskdist.specs import DatasetSpec, ImageSpec, from_params

start(snakemake)
spec = from_params(DatasetSpec, snakemake.params.spec["dataset"])
image = from_params(ImageSpec, snakemake.params.spec["image"])
seed = snakemake.params.spec["seed"]  # the experiment seed: pools are the same for every task
ds = datasets.load(
    spec.name, image, split=spec.split, seed=seed, root=spec.root, download=spec.download, folder=spec.folder,
    classes=[snakemake.params.spec["class"]],
)  # fmt: skip
if spec.folder is not None and ds.class_names != spec.class_names:
    raise RuntimeError(
        f"image folder {spec.folder}: its class folders changed since the workflow was planned "
        f"({list(spec.class_names)} then, {list(ds.class_names)} now); rerun snakemake"
    )
dataset.write(ds, snakemake.output[0], dataset=spec.name)
finish()
