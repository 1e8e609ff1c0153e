import json
import re

from snakemake.utils import validate

import taskdist.config
from taskdist.config import SEARCHES, stable_seed, to_params
from taskdist.distances import SCORE_METHODS
from taskdist.runtime import prepend_pythonpath

# Job scripts import taskdist from this checkout, whatever environment they run in.
prepend_pythonpath(workflow.basedir)

validate(config, "../taskdist/schema/config.schema.yaml")
EXP = taskdist.config.from_dict(config)
TASKS = list(EXP.tasks)
# Job params as plain builtins, converted once: planning n tasks asks for them ~2n² times.
TASK_PARAMS = {tid: to_params(spec) for tid, spec in EXP.tasks.items()}
NETWORK_PARAMS = to_params(EXP.network)
TRAIN_PARAMS = to_params(EXP.train)
FISHER_PARAMS = to_params(EXP.fisher)
TRANSFER_PARAMS = to_params(EXP.transfer)
TASK2VEC_PARAMS = to_params(EXP.task2vec)
TANAS_PARAMS = to_params(EXP.tanas)
NAS = EXP.nas
NAS_PARAMS = to_params(NAS.search)
DATASETS_USED = sorted({spec.dataset for spec in EXP.tasks.values()})


def alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    task=alternatives(TASKS),
    net=alternatives(TASKS),
    data=alternatives(TASKS),
    source=alternatives(TASKS),
    target=alternatives(TASKS),
    dataset=alternatives(DATASETS_USED),
    method=alternatives(EXP.methods),
    search=alternatives(SEARCHES),


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
    return TASK_PARAMS[wildcards.task]


def get_train_params(wildcards):
    return {
        "task": TASK_PARAMS[wildcards.task],
        "network": NETWORK_PARAMS,
        "train": TRAIN_PARAMS,
    }


def get_fisher_dataset(wildcards):
    return dataset_file(wildcards.data)


def get_fisher_params(wildcards):
    return {
        "data_task": TASK_PARAMS[wildcards.data],
        "fisher": FISHER_PARAMS,
        "seed": stable_seed(EXP.seed, "fisher", wildcards.net, wildcards.data),
    }


def fisher_file(net, data):
    return f"results/fisher/{net}/{data}.parquet"


def get_ftd_inputs(wildcards):
    return [fisher_file(a, b) for a in TASKS for b in TASKS]


def get_target_dataset(wildcards):
    return dataset_file(wildcards.target)


def get_transfer_params(wildcards):
    return {
        "target": TASK_PARAMS[wildcards.target],
        "network": NETWORK_PARAMS,
        "transfer": TRANSFER_PARAMS,
        "seed": stable_seed(EXP.seed, "transfer", wildcards.target),
    }


def get_transfer_pairs(wildcards):
    return [f"results/transfer/{a}/{b}.json" for a in TASKS for b in TASKS if a != b]


def get_scratch_results(wildcards):
    return [f"results/transfer/_scratch/{t}.json" for t in TASKS]


def get_score_pairs(wildcards):
    return [f"results/scores/{a}/{b}.json" for a in TASKS for b in TASKS if a != b]


def get_method_matrices(wildcards):
    return [f"results/distances/{method}.parquet" for method in EXP.methods]


PROBE = EXP.task2vec.probe


def get_probe_datasets(wildcards):
    return [dataset_file(t) for t in PROBE.tasks]


def get_probe_tables(wildcards):
    return [f"results/tasks/{t}.parquet" for t in PROBE.tasks]


def get_probe_params(wildcards):
    return {
        "tasks": [TASK_PARAMS[t] for t in PROBE.tasks],
        "network": NETWORK_PARAMS,
        "train": TRAIN_PARAMS,
        "seed": stable_seed(EXP.seed, "probe"),
    }


def get_probe_files(wildcards):
    """The probe's checkpoint (trained) or weights file (torchvision), when there is one."""
    if PROBE.kind == "trained":
        return ["results/task2vec/_probe.pt"]
    return [PROBE.weights] if PROBE.weights else []


def get_task2vec_params(wildcards):
    return {
        "task2vec": TASK2VEC_PARAMS,
        "task": TASK_PARAMS[wildcards.task],
        "seed": stable_seed(EXP.seed, "task2vec", wildcards.task),
    }


def get_task2vec_embeddings(wildcards):
    return [f"results/task2vec/{t}.parquet" for t in TASKS]


def get_tanas_params(wildcards):
    return {
        "spec": TANAS_PARAMS,
        "seed": stable_seed(EXP.seed, "tanas", wildcards.source, wildcards.target),
    }


def get_tanas_pairs(wildcards):
    return [f"results/tanas/{a}/{b}.json" for a in TASKS for b in TASKS if a != b]


def get_nas_params(wildcards):
    """A search on task ``task`` (base) or ``target``: every search of one task shares its seed."""
    task = wildcards.get("task") or wildcards.target
    return {
        "task": TASK_PARAMS[task],
        "search": NAS_PARAMS,
        "seed": stable_seed(EXP.seed, "nas", task),
    }


def get_nas_base_task_dataset(wildcards):
    return dataset_file(wildcards.task)


def nearest_bases(target):
    """The nearest bases of ``target`` as chosen by the checkpoint nas_bases (closest first)."""
    with open(checkpoints.nas_bases.get(target=target).output[0]) as f:
        return json.load(f)["bases"]


def get_nas_search_bases(wildcards):
    """Base results spanning the task-aware space: only the chosen bases, so others can change freely."""
    if wildcards.search != "task_aware":
        return []
    return [f"results/nas/base/{b}.json" for b in nearest_bases(wildcards.target)]


def get_nas_results(wildcards):
    bases = [f"results/nas/base/{b}.json" for b in NAS.base_tasks]
    targets = [
        f"results/nas/target/{t}/{s}.json" for t in NAS.targets for s in SEARCHES
    ]
    return bases + targets


def get_final_outputs():
    outputs = [
        "results/transfer.parquet",
        "results/mantel.parquet",
        "results/selection.parquet",
        "results/plots/transfer_accuracy.png",
        "results/plots/transfer_gain.png",
    ]
    for method in EXP.methods:
        outputs += [
            f"results/distances/{method}.parquet",
            f"results/plots/{method}.png",
            f"results/plots/atlas/{method}.png",
            f"results/plots/mantel/{method}.png",
        ]
    if NAS.enabled:
        outputs += ["results/nas/summary.parquet", "results/plots/nas.png"]
    return outputs
