"""rule prepare_dataset: load a dataset source's used classes, assign their images to pools and store their canonical
arrays."""

from taskdist import data
from taskdist.runtime import finish, start
from taskdist.specs import DatasetSpec, from_params

start(snakemake)
spec = from_params(DatasetSpec, snakemake.params.spec["dataset"])
image = from_params(data.ImageSpec, snakemake.params.spec["image"])
seed = snakemake.params.spec["seed"]  # the experiment seed: pools are the same for every task
classes = snakemake.params.spec["classes"]  # what the experiment's tasks draw from
ds = data.load(
    spec.name, image, split=spec.split, seed=seed, root=spec.root, download=spec.download, folder=spec.folder,
    classes=classes,
)  # fmt: skip
if spec.folder is not None and ds.class_names != spec.class_names:
    raise RuntimeError(
        f"image folder {spec.folder}: its class folders changed since the workflow was planned "
        f"({list(spec.class_names)} then, {list(ds.class_names)} now); rerun snakemake"
    )
data.save_npz(snakemake.output[0], ds)
finish()
