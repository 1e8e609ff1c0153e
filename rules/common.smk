import re

from snakemake.utils import validate

import taskdist.config
from taskdist.config import stable_seed, to_params
from taskdist.runtime import prepend_pythonpath

# Job scripts import taskdist from this checkout, whatever environment they run in.
prepend_pythonpath(workflow.basedir)

validate(config, "../taskdist/schema/config.schema.yaml")
EXP = taskdist.config.from_dict(config)
TASKS = list(EXP.tasks)
DATASETS_USED = sorted({spec.dataset for spec in EXP.tasks.values()})


def alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    task=alternatives(TASKS),
    net=alternatives(TASKS),
    data=alternatives(TASKS),
    dataset=alternatives(DATASETS_USED),
    method=alternatives(EXP.methods),


def dataset_file(task_id):
    return f"resources/datasets/{EXP.tasks[task_id].dataset}.npz"


def get_dataset_params(wildcards):
    return {
        "dataset": to_params(EXP.datasets[wildcards.dataset]),
        "image": to_params(EXP.image),
    }


def get_task_dataset(wildcards):
    return dataset_file(wildcards.task)


def get_task_params(wildcards):
    return to_params(EXP.tasks[wildcards.task])


def get_train_params(wildcards):
    return {
        "task": to_params(EXP.tasks[wildcards.task]),
        "network": to_params(EXP.network),
        "train": to_params(EXP.train),
    }


def get_fisher_dataset(wildcards):
    return dataset_file(wildcards.data)


def get_fisher_params(wildcards):
    return {
        "data_task": to_params(EXP.tasks[wildcards.data]),
        "fisher": to_params(EXP.fisher),
        "seed": stable_seed(EXP.seed, "fisher", wildcards.net, wildcards.data),
    }


def fisher_file(net, data):
    return f"results/fisher/{net}/{data}.parquet"


def get_ftd_inputs(wildcards):
    return [fisher_file(a, b) for a in TASKS for b in TASKS]


def get_final_outputs():
    outputs = []
    for method in EXP.methods:
        outputs += [
            f"results/distances/{method}.parquet",
            f"results/plots/{method}.png",
        ]
    return outputs
