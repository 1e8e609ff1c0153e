import dataclasses
import json
import re

from snakemake.utils import validate

import taskdist.config
from taskdist.specs import SEARCHES, network_files, resample, to_params
from taskdist.seeds import stable_seed
from taskdist.nas.replicates import random_bases, replicate_seed
from taskdist.methods.registry import PATH_METHODS, SCORE_METHODS, path_reads
from taskdist.runtime import prepend_pythonpath, stage_version

# Job scripts import taskdist from this checkout, whatever environment they run in.
prepend_pythonpath(workflow.basedir)

taskdist.config.check_renamed(config)
validate(config, "../taskdist/schema/config.schema.yaml")
EXP = taskdist.config.from_dict(config)
TASKS = list(EXP.tasks)
# Instruments of the noise floor: an independent resample of every task (other examples and seeds).
# They enter no Mantel or selection table.
RESAMPLE = {t: resample(spec) for t, spec in EXP.tasks.items()}
# The pairs (source, target) that per-pair jobs compute; aggregates read each file's pair from the file.
# PAIRS: ordered pairs of distinct tasks; OWN: a network on its own task (FTD reads it with every pair);
# FLOORS: a task's source against its resample, the noise floor.
PAIRS = [(a, b) for a in TASKS for b in TASKS if a != b]
OWN = [(t, t) for t in TASKS]
FLOORS = [(t, RESAMPLE[t].id) for t in TASKS]
SPECS = {**EXP.tasks, **{r.id: r for r in RESAMPLE.values()}}
# FTD consistency: more networks per task (other seeds, another shape), named {task}@{variant}.
VARIANTS = EXP.consistency.variants()
VARIANT_NETS = {f"{t}@{v}": t for t in TASKS for v in VARIANTS}
# Job params as plain builtins, converted once: planning n tasks asks for them ~2n² times.
TASK_PARAMS = {tid: to_params(spec) for tid, spec in SPECS.items()}
NETWORK_PARAMS = to_params(EXP.network)
TRAIN_PARAMS = to_params(EXP.train)
FISHER_PARAMS = to_params(EXP.fisher)
TRANSFER_PARAMS = to_params(EXP.transfer)
TASK2VEC_PARAMS = to_params(EXP.task2vec)
TANAS_PARAMS = to_params(EXP.tanas)
NAS = EXP.nas
NAS_PARAMS = to_params(NAS.search)
NAS_OUTPUTS = [
    "results/nas/summary.parquet",
    "results/nas/curves.parquet",
    "results/nas/reach.parquet",
    "results/nas/paired.parquet",
    "results/nas/winners.parquet",
    "results/plots/nas.png",
    "results/plots/nas_curves.png",
]
# GPUs a job asks for (resources: gpu=GPUS) where torch runs on EXP.device, i.e. one with `device: cuda`, none
# with cpu or auto (auto is resolved inside the job, on whatever the job was given); jobs without torch ask for
# none. The gpu resource is local in scope (Snakefile): a group of pair jobs asks for one and runs its members
# on it one after another (the SLURM profile sets `resources: gpu=1`).
GPUS = 1 if EXP.device == "cuda" else 0
DATASETS_USED = sorted({spec.dataset for spec in EXP.tasks.values()})
# The version of each stage's computation, owned by the module that computes it; every rule's params
# carry its stage's, so raising one reruns exactly that stage and what depends on it.
VERSIONS = {
    stage: stage_version(f"taskdist.{module}")
    for stage, module in {
        "dataset": "data.datasets",
        "task": "data.tasks",
        "budget": "data.budget",
        "train": "nets.train",
        "fisher": "methods.fisher",
        "ftd": "methods.distances",
        "task2vec": "methods.task2vec",
        "scores": "methods.scores",
        "tanas": "methods.tanas",
        "paths": "methods.coupled",
        "bound": "methods.bound",
        "transfer": "evaluation.transfer",
        "reliability": "evaluation.reliability",
        "floors": "evaluation.floors",
        "evaluation": "evaluation.tables",
        "nas": "nas.taskaware",
        "nas_claim": "nas.claim",
        "plots": "plots",
        "summary": "summary_page",
    }.items()
}
# The settings of the run that the report's first page (rule summary_page) names beside its numbers.
SUMMARY_SETTINGS = {
    "tasks": TASKS,
    "methods": list(EXP.methods),
    "transfer settings": list(EXP.transfer.settings),
    "replicates": EXP.transfer.replicates,
    "labelled examples per class": EXP.transfer.samples_per_class,
    "Mantel correlation": EXP.mantel.method,
    "permutations": EXP.mantel.permutations,
    "bootstrap resamples over tasks": EXP.mantel.resamples,
    "interval level": EXP.mantel.level,
    "seed": EXP.seed,
}


def pair_files(pattern, pairs):
    """``pattern`` (with ``{source}`` and ``{target}``) for each pair of ``pairs``."""
    return [pattern.format(source=a, target=b) for a, b in pairs]


def alternatives(names):
    """A wildcard regex matching exactly ``names`` (and nothing when there are none)."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    task=alternatives(SPECS),
    net=alternatives([*SPECS, *VARIANT_NETS]),
    data=alternatives(SPECS),
    source=alternatives(TASKS),
    target=alternatives(SPECS),
    dataset=alternatives(DATASETS_USED),
    cls=r"\d+",
    method=alternatives(EXP.methods),
    search=alternatives(SEARCHES),


def dataset_files(task_id):
    """The files of the dataset classes a task draws from: one per class, so that a task drawing a new class
    adds a file and changes none that other tasks read (a dataset is read only for the classes tasks use).
    """
    spec = SPECS[task_id]
    return [f"resources/datasets/{spec.dataset}/{c}.npz" for c in spec.classes]


def transfer_seed(target):
    """Seed of the target's transfer replicates (budgets, heads, batch orders), shared by every source."""
    return stable_seed(EXP.seed, "transfer", target)


def budget_params(target):
    """The labelled budget of ``target`` (a BudgetSpec: distances and scores read the first transfer
    replicate's draw of it), or None for the whole train split (``distances.target_examples``). Its fields plus
    the draw's version; the job rebuilds the spec with taskdist.data.budget.from_job_params.
    """
    if EXP.target_examples == "train":
        return None
    spec = EXP.transfer.labelled_budget(transfer_seed(target))
    return {
        **to_params(dataclasses.replace(spec, method_samples=EXP.target_samples)),
        "version": VERSIONS["budget"],
    }


def get_dataset_params(wildcards):
    return {
        "dataset": to_params(EXP.datasets[wildcards.dataset]),
        "image": to_params(EXP.image),
        "seed": EXP.seed,  # of the pool assignment
        "class": int(wildcards.cls),  # read only this one
    }


def get_task_dataset(wildcards):
    return dataset_files(wildcards.task)


def get_task_params(wildcards):
    return TASK_PARAMS[wildcards.task]


def get_network_files(wildcards):
    """A torchvision task network's weights file, when it has one: an input, so that a changed file retrains."""
    shape = wildcards.get("variant") == "shape"
    return network_files(EXP.consistency.network if shape else EXP.network)


def get_train_params(wildcards):
    return {
        "task": TASK_PARAMS[wildcards.task],
        "network": NETWORK_PARAMS,
        "train": TRAIN_PARAMS,
        "version": VERSIONS["train"],
    }


def get_fisher_dataset(wildcards):
    return dataset_files(wildcards.data)


def get_fisher_params(wildcards):
    """A network on its own task's data reads its train split; on another task's, that task's labelled budget."""
    own = VARIANT_NETS.get(wildcards.net, wildcards.net) == wildcards.data
    return {
        "data_task": TASK_PARAMS[wildcards.data],
        "fisher": FISHER_PARAMS,
        "labelled": None if own else budget_params(wildcards.data),
        "seed": stable_seed(EXP.seed, "fisher", wildcards.net, wildcards.data),
        "version": VERSIONS["fisher"],
    }


# N_source on the data of task target
FISHER_FILE = "results/fisher/{source}/{target}.parquet"


def get_ftd_inputs(wildcards):
    return {
        "pairs": pair_files(FISHER_FILE, OWN + PAIRS),
        "floors": pair_files(FISHER_FILE, FLOORS),
    }


def get_variant_params(wildcards):
    variant = wildcards.variant
    network = EXP.consistency.network if variant == "shape" else EXP.network
    return {
        "task": TASK_PARAMS[wildcards.task],
        "network": to_params(network),
        "train": TRAIN_PARAMS,
        "seed": stable_seed(SPECS[wildcards.task].seed, "network", variant),
        "version": VERSIONS["train"],
    }


def get_variant_fisher(wildcards):
    return pair_files(FISHER_FILE, [(net, b) for net in VARIANT_NETS for b in TASKS])


def get_target_dataset(wildcards):
    return dataset_files(wildcards.target)


def get_transfer_params(wildcards):
    """Training from scratch (no source) builds a network of the configured shape; transfer loads the source's."""
    params = {
        "target": TASK_PARAMS[wildcards.target],
        "transfer": TRANSFER_PARAMS,
        "seed": transfer_seed(wildcards.target),
        "version": VERSIONS["transfer"],
        "budget_version": VERSIONS["budget"],  # the draw it trains on
    }
    if "source" not in wildcards.keys():
        params["network"] = NETWORK_PARAMS
    return params


def get_source_models(wildcards):
    """The source's networks of seeds 0, 1, ...: replicate r of a transfer fine-tunes the one of seed r mod seeds."""
    source = wildcards.source
    return [f"results/models/{source}.pt"] + [
        f"results/models/{source}@{v}.pt" for v in VARIANTS if v.startswith("seed")
    ]


def get_transfer_pairs(wildcards):
    return pair_files("results/transfer/{source}/{target}.json", PAIRS)


def get_scratch_results(wildcards):
    return expand("results/transfer/_scratch/{task}.json", task=TASKS)


def get_score_inputs(wildcards):
    target = wildcards.target
    return {
        "models": [f"results/models/{a}.pt" for a, b in PAIRS if b == target],
        "dataset": dataset_files(target),
        "task": f"results/tasks/{target}.parquet",
        "resample": f"results/tasks/{RESAMPLE[target].id}.parquet",
    }


def get_score_params(wildcards):
    labelled = {
        "task": budget_params(wildcards.target),
        "resample": budget_params(RESAMPLE[wildcards.target].id),
    }
    return {"labelled": labelled, "version": VERSIONS["scores"]}


def get_score_tables(wildcards):
    return expand("results/scores/{task}.parquet", task=TASKS)


def get_method_matrices(wildcards):
    return [f"results/distances/{method}.parquet" for method in EXP.methods]


PROBE = EXP.task2vec.probe


def get_probe_datasets(wildcards):
    return [
        path for t in EXP.task2vec.probe_tasks for path in dataset_files(t)
    ]  # train_probe splits them by task


def get_probe_tables(wildcards):
    return expand("results/tasks/{task}.parquet", task=EXP.task2vec.probe_tasks)


def get_probe_params(wildcards):
    return {
        "tasks": [TASK_PARAMS[t] for t in EXP.task2vec.probe_tasks],
        "network": NETWORK_PARAMS,
        "train": TRAIN_PARAMS,
        "seed": stable_seed(EXP.seed, "probe"),
        "version": VERSIONS["train"],
    }


def get_probe_files(wildcards):
    """The probe's checkpoint (trained) or weights file (torchvision), when there is one."""
    if PROBE.kind == "trained":
        return ["results/task2vec/_probe.pt"]
    return [PROBE.weights] if PROBE.weights else []


# What an embedding reads of the Task2Vec settings (the probe's tasks decide its checkpoint, an input; alpha
# weighs the asymmetric distance in the matrix job only).
EMBED_PARAMS = {
    k: TASK2VEC_PARAMS[k] for k in ("probe", "estimator", "beta", "samples", "head")
}
TRIVIAL_PARAMS = {k: TASK2VEC_PARAMS[k] for k in ("probe", "estimator", "beta")}


def get_task2vec_params(wildcards):
    return {
        "task2vec": EMBED_PARAMS,
        "task": TASK_PARAMS[wildcards.task],
        "labelled": budget_params(wildcards.task),
        "seed": stable_seed(EXP.seed, "task2vec", wildcards.task),
        "version": VERSIONS["task2vec"],
    }


def get_task2vec_embeddings(wildcards):
    return expand("results/task2vec/{task}.parquet", task=TASKS)


def get_task2vec_floors(wildcards):
    return expand("results/task2vec/{task}.parquet", task=[r for _, r in FLOORS])


def get_tanas_params(wildcards):
    return {
        "spec": TANAS_PARAMS,
        "seed": stable_seed(EXP.seed, "tanas", wildcards.source, wildcards.target),
        "version": VERSIONS["tanas"],
    }


def get_tanas_inputs(wildcards):
    return {
        "pairs": pair_files("results/tanas/{source}/{target}.json", PAIRS),
        "floors": pair_files("results/tanas/{source}/{target}.json", FLOORS),
    }


PATH_FILE = "results/paths/{length}/{source}/{target}.json"


def get_pair_inputs(wildcards):
    return {
        "source": f"results/models/{wildcards.source}.pt",
        "source_dataset": dataset_files(wildcards.source),
        "source_task": f"results/tasks/{wildcards.source}.parquet",
        "target_dataset": dataset_files(wildcards.target),
        "target_task": f"results/tasks/{wildcards.target}.parquet",
    }


def get_path_params(wildcards):
    """What a path-length job reads: its method's settings only, the target's labelled budget, the pair's seed
    (shared by the three methods, so their paths are paired)."""
    return {
        "coupled": path_reads(wildcards.length, EXP.coupled),
        "labelled": budget_params(wildcards.target),
        "seed": stable_seed(EXP.seed, "path", wildcards.source, wildcards.target),
        "version": VERSIONS["paths"],
    }


def get_bound_params(wildcards):
    return {
        "bound": to_params(EXP.transfer_bound),
        "labelled": budget_params(wildcards.target),
        "seed": stable_seed(EXP.seed, "bound", wildcards.source, wildcards.target),
        "version": VERSIONS["bound"],
    }


def get_bound_inputs(wildcards):
    pattern = "results/bound/{source}/{target}.json"
    return {"pairs": pair_files(pattern, PAIRS), "floors": pair_files(pattern, FLOORS)}


def get_path_matrix_inputs(wildcards):
    pattern = PATH_FILE.replace("{length}", wildcards.length)
    return {"pairs": pair_files(pattern, PAIRS), "floors": pair_files(pattern, FLOORS)}


def get_plotted_paths(wildcards):
    """The paths the report shows: the first task against its resample (the floor) and up to three other
    tasks, for every path-length method computed."""
    source = TASKS[0]
    pairs = [FLOORS[0]] + [(source, b) for b in TASKS[1:4]]
    return [
        PATH_FILE.format(length=m, source=a, target=b)
        for m in EXP.methods
        if m in PATH_METHODS
        for a, b in pairs
    ]


def get_floor_inputs(wildcards):
    return {
        "matrices": get_method_matrices(wildcards),
        "floors": [f"results/floors/{method}.parquet" for method in EXP.methods],
    }


def get_nas_params(wildcards):
    """A search on task ``task`` (base) or ``target`` (seed index ``seed``): every search of one task and seed
    shares its seed; seed 0 is the task's own (taskdist.nas.replicates.replicate_seed).
    """
    task = wildcards.get("task") or wildcards.target
    replicate = int(wildcards.get("seed", 0))
    return {
        "task": TASK_PARAMS[task],
        "search": NAS_PARAMS,
        "seed": replicate_seed(stable_seed(EXP.seed, "nas", task), replicate),
        "replicate": replicate,
        "final_seeds": NAS.final_seeds if "target" in wildcards.keys() else 1,
        "version": VERSIONS["nas"],
    }


def get_nas_base_task_dataset(wildcards):
    return dataset_files(wildcards.task)


def chosen_bases(target, key="bases"):
    """The nearest (``bases``) or farthest (``farthest``) bases of ``target`` as chosen by the checkpoint
    nas_bases (closest, resp. farthest, first)."""
    with open(checkpoints.nas_bases.get(target=target).output[0]) as f:
        return json.load(f)[key]


def get_nas_search_bases(wildcards):
    """Base results spanning a space of bases (task-aware, ablations): only the chosen bases, so others can
    change freely. The random bases of a seed follow from the seed alone (no distance).
    """
    if wildcards.search == "task_aware":
        bases = chosen_bases(wildcards.target)
    elif wildcards.search == "farthest":
        bases = chosen_bases(wildcards.target, "farthest")
    elif wildcards.search == "random_bases":
        seed = replicate_seed(
            stable_seed(EXP.seed, "nas", wildcards.target), int(wildcards.seed)
        )
        bases = random_bases(NAS.base_tasks, NAS.k, seed)
    else:
        return []
    return [f"results/nas/base/{b}.json" for b in bases]


def nas_target_files(targets=None, seeds=None):
    """Every search record of the targets: one per (target, search, seed)."""
    targets = NAS.targets if targets is None else targets
    seeds = range(NAS.seeds) if seeds is None else seeds
    return [
        f"results/nas/target/{t}/{s}/{r}.json"
        for t in targets
        for s in NAS.searches
        for r in seeds
    ]


def get_nas_results(wildcards):
    bases = [f"results/nas/base/{b}.json" for b in NAS.base_tasks]
    return bases + nas_target_files()


def get_final_outputs():
    outputs = [
        "results/transfer.parquet",
        "results/mantel.parquet",
        "results/mantel_comparison.parquet",
        "results/selection.parquet",
        "results/reliability.parquet",
        "results/floors.parquet",
        "results/report/summary.html",
    ] + [
        f"results/plots/transfer/{setting}_{value}.png"
        for setting in EXP.transfer.settings
        for value in ("accuracy", "gain")
    ]
    for method in EXP.methods:
        outputs += [
            f"results/distances/{method}.parquet",
            f"results/plots/{method}.png",
            f"results/plots/atlas/{method}.png",
            f"results/plots/mantel/{method}.png",
        ]
    if set(EXP.methods) & set(PATH_METHODS):
        outputs.append("results/plots/paths.png")
    if "transfer_bound" in EXP.methods:
        outputs.append("results/plots/bound_terms.png")
    if VARIANTS and "ftd" in EXP.methods:
        outputs.append("results/consistency.parquet")
    if NAS.enabled:
        outputs += NAS_OUTPUTS
    return outputs
