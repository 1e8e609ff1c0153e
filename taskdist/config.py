"""Reading and checking an experiment's configuration: the one validation layer.

``config.yaml`` is checked in two steps, each the only one of its kind. The
JSON schema (``taskdist/schema/config.schema.yaml``) owns the structure, the
ranges and every default (:func:`defaults` gives them to code outside a
config); :func:`from_dict` owns the meaning (datasets are registered or are
image folders that can be listed, classes named by id or name exist,
relabellings are partitions, budgets can be met, methods are known, the
Task2Vec probe can be built) and returns an :class:`~taskdist.specs.Experiment`
of frozen specs (:mod:`taskdist.specs`), which check nothing themselves. Both run when the workflow is planned,
before any job. Every error is a :class:`ConfigError` that names the offending
key, e.g. ``tasks[mnist_low].classes``; a key or value of an earlier version
names its replacement (:data:`RENAMED`).

Why one module of about 600 lines: it is the only place that judges a config, and its checks read
each other's results (the datasets' classes before the tasks', the tasks before the budgets and the
methods); split, every part would import the others.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from importlib import resources
from pathlib import Path

import yaml

from taskdist.data.pools import DEFAULT_VAL, check_split, default_split, pool_sizes
from taskdist.data.registry import DATASETS, DatasetInfo, dataset_info, folder_info
from taskdist.data.sources import scan_folder
from taskdist.seeds import stable_seed
from taskdist.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    POOLS,
    ArchSpec,
    BackboneSpec,
    BoundSpec,
    ConsistencySpec,
    CoupledSpec,
    DatasetSpec,
    Experiment,
    FisherSpec,
    ImageSpec,
    LinearSpec,
    MantelSpec,
    NasSpec,
    SplitSpec,
    TanasSpec,
    Task2VecSpec,
    TaskSpec,
    TrainSpec,
    TransferSpec,
    from_params,
)

SCHEMA_PATH = Path(str(resources.files("taskdist") / "schema" / "config.schema.yaml"))


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def load(path: str | Path) -> Experiment:
    """Read, validate and convert a config file; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping, got {type(raw).__name__}")
    check_renamed(raw)
    return from_dict(validate_schema(raw))


RENAMED = {
    ("fisher", "head", "epochs"): "fisher.head.max_iter (the head is now fitted to convergence)",
    ("fisher", "head", "batch_size"): "nothing: the head is fitted on all examples at once (remove the key)",
    ("fisher", "head", "lr"): "fisher.head.l2 (the head is now fitted to convergence)",
    ("transfer", "seeds"): "transfer.replicates",
    ("transfer", "epochs"): "transfer.finetune.max_epochs (training now stops when held-out loss stops improving)",
    ("transfer", "batch_size"): "transfer.finetune.batch_size",
    ("transfer", "lr"): "transfer.finetune.lr",
}
"""Keys of earlier versions -> what replaces them; a config that still uses one is rejected with its new name."""

RENAMED_VALUES = {
    ("task2vec", "estimator"): {"montecarlo": "mc"},
}
"""Values of earlier versions -> their name now (one name per concept: ``mc`` as in ``fisher.estimator``)."""


def check_renamed(raw: dict) -> None:
    """Reject keys and values that an earlier taskdist used, naming what replaces each; before the schema."""
    for path, new in RENAMED.items():
        node = raw
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise ConfigError(f"config key {'.'.join(path)} is no longer used; use {new}")
    for path, names in RENAMED_VALUES.items():
        node = raw
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node in names:
            raise ConfigError(f"config key {'.'.join(path)}: {node!r} is now called {names[node]!r}")


def validate_schema(raw: dict) -> dict:
    """Check ``raw`` against the JSON schema, filling in defaults (in place); returns it."""
    import jsonschema

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, _copy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    validator_cls = jsonschema.validators.extend(base, {"properties": set_defaults})
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(raw))
    if error is not None:
        where = _json_path(raw, list(error.absolute_path))
        raise ConfigError(f"config key {where}: {error.message}")
    return raw


def defaults(*path: str) -> dict:
    """The schema's defaults of the config section at ``path``: what a config that leaves it out gets.

    For code that builds specs outside a config (benchmarks, tests), so that the
    schema stays the one place defaults are written, e.g.
    ``from_params(ArchSpec, defaults("network"))``.
    """
    node = yaml.safe_load(SCHEMA_PATH.read_text())
    for key in path:
        try:
            node = node["properties"][key]
        except KeyError:
            raise KeyError(f"the config schema has no section {'.'.join(path)!r} (at {key!r})") from None
    return _filled(node, node.get("default", {}))


def _filled(node: dict, value):
    """``value`` with the defaults of schema ``node`` filled in, recursively (those of the ``then`` or ``else``
    branch that applies to it included, as in ``network``)."""
    value = _copy(value)
    if isinstance(value, dict):
        properties = {key: dict(sub) for key, sub in node.get("properties", {}).items()}
        if "if" in node:
            import jsonschema

            branch = node.get("then" if jsonschema.Draft202012Validator(node["if"]).is_valid(value) else "else", {})
            for key, sub in branch.get("properties", {}).items():
                properties[key] = {**properties.get(key, {}), **sub}
        for key, sub in properties.items():
            if key in value or "default" in sub:
                value[key] = _filled(sub, value.get(key, sub.get("default")))
    return value


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _json_path(raw: dict, path: list) -> str:
    """``tasks[3].classes`` -> ``tasks[<id>].classes`` when the task has an id."""
    out, node = "", raw
    for key in path:
        if isinstance(key, int):
            label = key
            if isinstance(node, list) and isinstance(node[key], dict) and "id" in node[key]:
                label = node[key]["id"]
            out += f"[{label}]"
        else:
            out += f".{key}" if out else str(key)
        node = node[key] if isinstance(node, (dict, list)) else node
    return out or "<top level>"


def from_dict(cfg: dict) -> Experiment:
    """Semantic checks of a schema-validated config; returns the typed :class:`Experiment`."""
    from taskdist.methods.registry import METHODS

    datasets, infos = {}, {}
    for name, opts in cfg["datasets"].items():
        opts = opts or {}
        infos[name] = info = _dataset_info(name, opts)
        split = _dataset_split(info, opts.get("split"))
        folder = opts.get("folder")
        classes = info.class_names if folder is not None else None
        datasets[name] = DatasetSpec(name, opts.get("root"), bool(opts.get("download", False)), split, folder, classes)

    defaults = cfg["task_defaults"]
    tasks: dict[str, TaskSpec] = {}
    for raw in cfg["tasks"]:
        if raw["id"] in tasks:
            raise ConfigError(f"config key tasks[{raw['id']}].id: duplicate task id {raw['id']!r}")
        spec = _task(raw, defaults, datasets, infos, cfg["seed"])
        tasks[spec.id] = spec
    if len(tasks) < 2:
        raise ConfigError(f"config key tasks: a task distance needs at least two tasks, got {len(tasks)}")

    for method in cfg["distances"]["methods"]:
        if method not in METHODS:
            raise ConfigError(f"config key distances.methods: unknown method {method!r}; known: {sorted(METHODS)}")

    fisher = dict(cfg["fisher"])
    network = _network(cfg["network"], cfg["image"], "network")
    return Experiment(
        seed=cfg["seed"],
        device=cfg["device"],
        image=ImageSpec(**cfg["image"]),
        datasets=datasets,
        tasks=tasks,
        network=network,
        train=TrainSpec(**cfg["train"]),
        fisher=FisherSpec(head=LinearSpec(**fisher.pop("head")), **fisher),
        methods=tuple(cfg["distances"]["methods"]),
        target_examples=cfg["distances"]["target_examples"],
        target_samples=_target_samples(cfg["distances"], cfg["transfer"], tasks),
        transfer=_transfer(cfg["transfer"], tasks, datasets, infos),
        task2vec=_task2vec(
            cfg["task2vec"], tasks, needed=any(m.startswith("task2vec") for m in cfg["distances"]["methods"])
        ),
        mantel=from_params(MantelSpec, cfg["mantel"]),
        nas=_nas(cfg["nas"], tasks, cfg["distances"]["methods"]),
        tanas=from_params(TanasSpec, cfg["tanas"]),
        coupled=from_params(CoupledSpec, cfg["coupled"]),
        transfer_bound=from_params(BoundSpec, cfg["transfer_bound"]),
        consistency=ConsistencySpec(
            seeds=cfg["consistency"]["seeds"], network=_consistency_network(cfg["consistency"], cfg)
        ),
    )


CNN_KEYS = tuple(f.name for f in dataclasses.fields(ArchSpec))
"""The ``network`` keys of the small CNN (:class:`~taskdist.specs.ArchSpec`)."""
BACKBONE_KEYS = ("weights", "mean", "std")
"""The ``network`` keys of a torchvision architecture besides ``arch`` (:class:`~taskdist.specs.BackboneSpec`)."""


def _network(raw: dict, image: dict, key: str) -> ArchSpec | BackboneSpec:
    """The task network of section ``key``: the small CNN (no ``arch``, or ``arch: cnn``; its params exactly
    as before torchvision architectures existed) or a torchvision architecture (:func:`_backbone`)."""
    arch = raw.get("arch", "cnn")
    if arch == "cnn":
        foreign = [k for k in BACKBONE_KEYS if k in raw]
        if foreign:
            raise ConfigError(
                f"config key {key}.{foreign[0]}: {foreign} apply to a torchvision arch only; the small CNN "
                f"(no arch, or arch: cnn) takes {list(CNN_KEYS)}: remove them, or set arch, e.g. arch: resnet18"
            )
        return from_params(ArchSpec, {k: raw[k] for k in CNN_KEYS})
    # config.yaml spells out the CNN's defaults, and an overlay (--configfile configs/ftd_mnist.yaml) that names
    # an arch merges onto them: keys at their defaults say nothing, other values are a mix-up.
    cnn = defaults("network")
    mixed = [k for k in CNN_KEYS if k in raw and raw[k] != cnn[k]]
    if mixed:
        raise ConfigError(
            f"config key {key}: {mixed} describe the small CNN, not the torchvision architecture {arch!r} "
            f"(which takes arch and {list(BACKBONE_KEYS)}); remove them, or remove arch for the small CNN"
        )
    return _backbone(raw, image, key)


def _backbone(raw: dict, image: dict, key: str) -> BackboneSpec:
    """A torchvision architecture as task network: it exists, has a final ``nn.Linear``, takes ``image.size``
    pixels, and its weights exist; a torchvision weights name is resolved in full, with its own mean and std.

    Imports torchvision (1-2 s), which a config of the small CNN never does; nothing downloads.
    """
    from taskdist.nets import backbones

    arch = raw["arch"]
    try:
        backbones.check_arch(arch)
    except ValueError as e:
        raise ConfigError(f"config key {key}.arch: {e}; or cnn for the small CNN") from None
    size = image["size"]
    error = backbones.size_error(arch, size)
    if error is not None:
        smallest = backbones.smallest_size(arch, size + 1)
        least = f"the smallest it takes is {smallest}" if smallest else "it takes no size up to 512"
        raise ConfigError(
            f"config key image.size: {arch!r} cannot take {size}x{size} images ({error}); {least}: raise image.size "
            f"or choose another {key}.arch"
        )
    weights = raw.get("weights")
    mean, std = tuple(raw.get("mean", IMAGENET_MEAN)), tuple(raw.get("std", IMAGENET_STD))
    if weights is not None and backbones.looks_like_weights_name(weights) and not Path(weights).is_file():
        try:
            enum = backbones.weights_enum(arch, weights)
        except ValueError as e:
            raise ConfigError(
                f"config key {key}.weights: {e} (or give the path of a state dict file of {arch!r})"
            ) from None
        given = [k for k in ("mean", "std") if k in raw]
        if given:
            raise ConfigError(
                f"config key {key}.{given[0]}: torchvision weights {weights!r} normalise their inputs with their own "
                f"mean and std; remove {given}"
            )
        weights = f"{type(enum).__name__}.{enum.name}"
        mean, std = backbones.weights_normalisation(enum)
    elif weights is not None:
        _check_readable(
            weights, f"config key {key}.weights", "a torchvision weights name (e.g. DEFAULT), or null (random weights)"
        )
    return BackboneSpec(arch=arch, weights=weights, mean=mean, std=std)


def _consistency_network(raw: dict, cfg: dict) -> ArchSpec | BackboneSpec | None:
    """The FTD-consistency ``shape`` network: without ``arch`` its keys replace those of ``network``; with
    ``arch`` it is a network of its own (the small CNN's defaults filled in for ``arch: cnn``)."""
    own = raw.get("network")
    if not own:
        return None
    if "arch" not in own:
        merged = {**cfg["network"], **own}
    elif own["arch"] == "cnn":
        merged = {**defaults("network"), **own}
    else:
        merged = own
    return _network(merged, cfg["image"], "consistency.network")


def _transfer(
    raw: dict, tasks: dict[str, TaskSpec], datasets: dict[str, DatasetSpec], infos: dict[str, DatasetInfo]
) -> TransferSpec:
    """The transfer settings; every task's train and val splits must hold a replicate's budget per label."""
    spec = from_params(TransferSpec, raw)
    for task in tasks.values():
        per_class = task.split_counts(pool_sizes(infos[task.dataset], datasets[task.dataset].split))
        for label, (name, sources) in enumerate(zip(task.label_names, task.label_map, strict=True)):
            have = [sum(per_class[c][i] for c in sources) for i in range(len(POOLS))]
            for key, need, split, i in (("samples_per_class", spec.samples_per_class, "train", 0),
                                        ("holdout_per_class", spec.holdout_per_class, "val", 1)):
                if have[i] < need:
                    raise ConfigError(
                        f"config key transfer.{key}: {need} {split} examples per label are needed, but label "
                        f"{label} ({name!r}) of task {task.id!r} has {have[i]} in its {split} split; lower it, "
                        f"raise tasks[{task.id}].samples_per_class, or give the {split} pool of dataset "
                        f"{task.dataset!r} a larger share (datasets.{task.dataset}.split.{split})"
                    )
    return spec


def _target_samples(distances: dict, transfer: dict, tasks: dict[str, TaskSpec]) -> int | None:
    """``distances.target_samples``: read from the labelled budget, so no larger than any target's budget."""
    total = distances["target_samples"]
    if total is None:
        return None
    if distances["target_examples"] != "budget":
        raise ConfigError(f"config key distances.target_samples: {total} examples of the labelled budget, but "
                          f"distances.target_examples is {distances['target_examples']!r}; set it to 'budget' or "
                          "target_samples to null")
    per_label = transfer["samples_per_class"] + transfer["holdout_per_class"]
    for task in tasks.values():
        if task.n_classes * per_label < total:
            raise ConfigError(
                f"config key distances.target_samples: {total} examples per target, but task {task.id!r} has a "
                f"labelled budget of {task.n_classes * per_label} ({task.n_classes} labels x {per_label}: "
                "transfer.samples_per_class + transfer.holdout_per_class); lower it to at most "
                f"{min(t.n_classes for t in tasks.values()) * per_label}"
            )
    return total


def _nas(raw: dict, tasks: dict[str, TaskSpec], methods: list[str]) -> NasSpec:
    """The architecture-search settings: task ids exist, bases and targets are apart, the method is computed."""
    for key in ("base_tasks", "targets"):
        for tid in raw[key]:
            if tid not in tasks:
                raise ConfigError(f"config key nas.{key}: {tid!r} is not a task id; known: {list(tasks)}")
        if len(set(raw[key])) != len(raw[key]):
            raise ConfigError(f"config key nas.{key}: task ids repeat in {raw[key]}")
    both = sorted(set(raw["base_tasks"]) & set(raw["targets"]))
    if both:
        raise ConfigError(f"config key nas.targets: {both} are also base tasks; a target must not be its own base")
    if raw["targets"]:
        if not raw["base_tasks"]:
            raise ConfigError("config key nas.base_tasks: nas.targets are searched from base tasks; list at least one")
        if not 1 <= raw["k"] <= len(raw["base_tasks"]):
            raise ConfigError(
                f"config key nas.k: {raw['k']} nearest bases requested but nas.base_tasks has "
                f"{len(raw['base_tasks'])}; need 1 <= k <= {len(raw['base_tasks'])}"
            )
        if raw["method"] not in methods:
            raise ConfigError(
                f"config key nas.method: {raw['method']!r} must be one of the computed distances.methods {methods}"
            )
        n, k = len(raw["base_tasks"]), raw["k"]
        if "farthest" in raw.get("ablations", ()) and 2 * k > n:
            raise ConfigError(f"config key nas.ablations: 'farthest' needs the k = {k} farthest bases apart from the "
                              f"k nearest, so 2k <= {n} base tasks; lower nas.k or add base tasks")
        if "random_bases" in raw.get("ablations", ()) and k >= n:
            raise ConfigError(f"config key nas.ablations: 'random_bases' draws k = {k} of the {n} base tasks; with "
                              f"k >= {n} every draw is the nearest bases; need k < {n}")
    return from_params(NasSpec, raw)


def _task2vec(raw: dict, tasks: dict[str, TaskSpec], needed: bool) -> Task2VecSpec:
    """The Task2Vec settings. A probe's settings must agree with its kind; when a task2vec method is requested,
    the probe must also be buildable: its tasks exist, or its architecture is torchvision's and its weights file
    is readable."""
    probe = {"arch": None, "weights": None, **raw["probe"]}
    key = "config key task2vec.probe"
    if not needed:  # no task2vec method is computed: its settings are not read, so not judged either
        return from_params(Task2VecSpec, {**raw, "probe": {k: probe[k] for k in ("kind", "arch", "weights")},
                                          "probe_tasks": ()})
    if probe["kind"] == "trained":
        for name in ("arch", "weights"):
            if probe[name] is not None:
                raise ConfigError(
                    f"{key}.{name}: a trained probe is a task network the workflow trains on probe.tasks; it "
                    f"takes no {name} (got {probe[name]!r}): remove it, or set probe.kind: torchvision"
                )
        if not probe["tasks"]:
            raise ConfigError(f"{key}.tasks: a trained probe needs at least one task id")
        for tid in probe["tasks"]:
            if tid not in tasks:
                raise ConfigError(f"{key}.tasks: {tid!r} is not a task id; known: {list(tasks)}")
    else:  # torchvision
        if probe["tasks"]:
            raise ConfigError(
                f"{key}.tasks: a torchvision probe is not trained on tasks (got {probe['tasks']}); remove them, "
                f"or set probe.kind: trained"
            )
        _check_torchvision_probe(probe["arch"], probe["weights"], key)
    return from_params(
        Task2VecSpec,
        {**raw, "probe": {k: probe[k] for k in ("kind", "arch", "weights")}, "probe_tasks": probe["tasks"]},
    )


def _check_torchvision_probe(arch: str | None, weights: str | None, key: str) -> None:
    """A torchvision probe names a classification architecture torchvision has, and a readable weights file."""
    if not arch:
        raise ConfigError(f"{key}.arch: a torchvision probe needs an architecture, e.g. resnet18")
    from taskdist.nets import backbones  # only for a torchvision probe: planning otherwise stays free of torch

    try:
        backbones.check_arch(arch)
    except ValueError as e:
        raise ConfigError(f"{key}.arch: {e}") from None
    if weights is not None:
        _check_readable(weights, f"{key}.weights", "or remove weights")


def _check_readable(weights: str, where: str, otherwise: str) -> None:
    """A weights file can be opened and read; ``where`` names the config key in the error."""
    try:
        with Path(weights).open("rb") as f:
            f.read(1)
    except OSError as e:
        raise ConfigError(
            f"{where}: cannot read the weights file {weights!r} ({e.strerror or e}); give the path of a "
            f"state dict saved with torch.save(model.state_dict(), path), {otherwise}"
        ) from None


DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What an image folder may be called in the config (its name is part of artifact paths)."""


def _dataset_info(name: str, opts: dict) -> DatasetInfo:
    """The registry entry of dataset ``name``, or, with ``folder``, the image folder's from listing it."""
    where = f"config key datasets.{name}"
    folder = opts.get("folder")
    if folder is None:
        if name not in DATASETS:
            raise ConfigError(
                f"{where}: unknown dataset {name!r}; known: {sorted(DATASETS)}; for an image folder "
                f"(<root>/<class>/<image>) give its root: datasets: {{{name}: {{folder: path/to/root}}}}"
            )
        return dataset_info(name)
    if name in DATASETS:
        raise ConfigError(
            f"{where}.folder: {name!r} is a registered dataset, read from its own source; give the image folder "
            f"another name (e.g. my_{name})"
        )
    for key in ("root", "download"):
        if key in opts:
            raise ConfigError(
                f"{where}.{key}: dataset {name!r} is an image folder ({folder}); {key} applies to torchvision "
                f"datasets only: remove it"
            )
    if not DATASET_NAME.match(name):
        raise ConfigError(f"{where}: an image folder's name must match {DATASET_NAME.pattern} (it names files)")
    try:
        return folder_info(name, scan_folder(folder))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{where}.folder: {err}") from None


def _dataset_split(info: DatasetInfo, raw: dict | None) -> SplitSpec:
    """The pools of dataset ``info`` from its ``split`` entry (None: the default)."""
    where = f"datasets.{info.name}.split"
    if raw is None:
        return default_split(info)
    if info.has_test_part:
        for key in ("train", "test"):
            if key in raw:
                raise ConfigError(
                    f"config key {where}.{key}: dataset {info.name!r} has its own test part, which is its test "
                    f"pool; give only `val`, the fraction of each class's train part kept for validation"
                )
        make, args = SplitSpec.of_train_part, (raw.get("val", DEFAULT_VAL),)
    else:
        for key in POOLS:
            if key not in raw:
                raise ConfigError(f"config key {where}.{key}: give train, val and test, fractions summing to 1")
        total = raw["train"] + raw["val"] + raw["test"]
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ConfigError(f"config key {where}: train + val + test must sum to 1, got {total:g}")
        make, args = SplitSpec, (raw["train"], raw["val"], raw["test"])
    split = make(*args)
    try:
        check_split(split)  # the schema keeps each fraction in (0, 1); 1 - val may still round to 1
    except ValueError as err:
        raise ConfigError(f"config key {where}: {err}") from None
    return split


def _task(
    raw: dict, defaults: dict, datasets: dict[str, DatasetSpec], infos: dict[str, DatasetInfo], seed: int
) -> TaskSpec:
    tid = raw["id"]

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"config key tasks[{tid}].{key}: {msg}")

    if raw["dataset"] not in datasets:
        raise fail("dataset", f"dataset {raw['dataset']!r} is not listed under datasets: {sorted(datasets)}")
    info = infos[raw["dataset"]]
    if "split" in raw:
        raise fail("split", f"splits belong to datasets now; set datasets.{info.name}.split")
    if "split" in defaults:
        raise ConfigError(
            "config key task_defaults.split: splits belong to datasets now; set datasets.<name>.split "
            f"for each dataset, e.g. datasets.{info.name}.split"
        )

    if ("classes" in raw) == ("labels" in raw):
        raise fail("classes", "give exactly one of 'classes' (a list of classes) or 'labels' (a mapping)")
    if "classes" in raw:
        key = "classes"
        label_map = tuple((_class_id(c, info, fail, key),) for c in raw["classes"])
        label_names = tuple(info.class_names[c] if c < info.n_classes else str(c) for (c,) in label_map)
    else:
        key = "labels"
        label_map = tuple(tuple(_class_id(c, info, fail, key) for c in v) for v in raw["labels"].values())
        label_names = tuple(str(k) for k in raw["labels"])
    _check_label_map(label_map, label_names, info, fail, key)

    split = datasets[info.name].split
    spec = TaskSpec(
        id=tid,
        dataset=info.name,
        label_map=label_map,
        label_names=label_names,
        samples_per_class=raw.get("samples_per_class", defaults["samples_per_class"]),
        split=split,
        seed=raw.get("seed", stable_seed(seed, "task", tid)),
    )
    sizes = pool_sizes(info, split)
    counts = spec.split_counts(sizes)
    for c, need in counts.items():
        for p, pool in enumerate(POOLS):
            if need[p] > sizes[c, p]:
                raise fail(
                    "samples_per_class",
                    f"{spec.samples_per_class} per label needs {need[p]} {pool} images of class {c} "
                    f"({info.class_names[c]!r}) but the {pool} pool of dataset {info.name!r} holds {sizes[c, p]} "
                    f"of that class ({info.class_counts[c]} in all; pools set by datasets.{info.name}.split)",
                )
    for name, sources in zip(label_names, label_map, strict=True):
        for p, pool in enumerate(POOLS):
            if sum(counts[c][p] for c in sources) == 0:
                raise fail(
                    "samples_per_class",
                    f"{spec.samples_per_class} per label leaves the {pool} split of label {name!r} empty",
                )
    return spec


def _class_id(value: int | str, info: DatasetInfo, fail, key: str) -> int:
    """A class named by its id (int) or its name (str) in dataset ``info``, as an id (range checked later)."""
    if not isinstance(value, str):
        return value
    try:
        return info.class_names.index(value)
    except ValueError:
        close = difflib.get_close_matches(value, info.class_names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        known = list(info.class_names) if info.n_classes <= 20 else f"{info.n_classes} names"
        raise fail(key, f"dataset {info.name!r} has no class named {value!r}{hint} (classes: {known})") from None


def _check_label_map(label_map, label_names, info: DatasetInfo, fail, key: str) -> None:
    seen: dict[int, str] = {}
    for name, sources in zip(label_names, label_map, strict=True):
        if not sources:
            raise fail(key, f"label {name!r} has no classes")
        for c in sources:
            if c >= info.n_classes:
                raise fail(key, f"class {c} is not in dataset {info.name!r} (classes 0..{info.n_classes - 1})")
            if c in seen:
                where = "twice" if seen[c] == name else f"in both {seen[c]!r} and {name!r}"
                raise fail(key, f"class {c} appears {where}; labels must not overlap")
            seen[c] = name
