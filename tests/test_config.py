"""Config validation: the schema, the semantic checks, and the same errors through Snakemake."""

import pytest
import yaml
from wf import snakemake, tiny_config, write_config

from taskdist import config, specs
from taskdist.config import ConfigError
from taskdist.data.pools import default_split
from taskdist.data.registry import dataset_info
from taskdist.seeds import stable_seed
from taskdist.specs import from_params, to_params

REPO_CONFIG = config.SCHEMA_PATH.parents[2] / "config.yaml"


def _load(tmp_path, cfg):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config.load(path)


def test_default_config_is_valid_and_has_the_promised_structure():
    exp = config.load(REPO_CONFIG)
    assert len(exp.tasks) >= 6
    assert {t.dataset for t in exp.tasks.values()} == {"mnist5k", "digits"}
    assert any(t.n_classes == 10 for t in exp.tasks.values())
    assert any(len(sources) > 1 for t in exp.tasks.values() for sources in t.label_map), "no relabelled task"
    # at least one pair of tasks on different datasets shares classes
    classes = {tid: {c for s in t.label_map for c in s} for tid, t in exp.tasks.items()}
    assert any(
        exp.tasks[a].dataset != exp.tasks[b].dataset and classes[a] & classes[b]
        for a in exp.tasks for b in exp.tasks
    )


def test_defaults_are_filled_and_specs_are_typed(tmp_path):
    cfg = tiny_config()
    del cfg["fisher"], cfg["train"]
    exp = _load(tmp_path, cfg)
    assert exp.fisher.estimator == "exact" and exp.fisher.head.l2 == 0.1
    assert exp.train.max_epochs == 100 and exp.train.patience == 10
    low = exp.tasks["low"]
    assert low.label_map == ((0,), (1,), (2,)) and low.label_names == ("0", "1", "2")
    parity = exp.tasks["parity"]
    assert parity.label_map == ((0, 2, 4), (1, 3, 5)) and parity.label_names == ("even", "odd")
    assert parity.draws_per_class() == {0: 7, 2: 7, 4: 6, 1: 7, 3: 7, 5: 6}
    assert low.split == exp.datasets["digits"].split == config.SplitSpec(0.6, 0.2, 0.2)


def test_task_seeds_are_independent_unless_set(tmp_path):
    exp = _load(tmp_path, _set(tiny_config(), 1, seed=11))
    assert exp.tasks["low"].seed == stable_seed(7, "task", "low")
    assert exp.tasks["parity"].seed == stable_seed(7, "task", "parity") != exp.tasks["low"].seed
    assert exp.tasks["high"].seed == 11


def test_dataset_splits_fill_their_defaults_and_reach_the_task_params(tmp_path):
    cfg = tiny_config()
    cfg["datasets"] = {"digits": None, "mnist": {"root": "data/torchvision"}, "usps": {"split": {"val": 0.2}}}
    exp = _load(tmp_path, cfg)
    assert exp.datasets["digits"].split == config.SplitSpec(0.6, 0.2, 0.2)
    assert exp.datasets["mnist"].split == config.SplitSpec.of_train_part(0.1)
    assert exp.datasets["usps"].split.val == 0.2 and exp.datasets["usps"].split.test is None
    before = to_params(exp.tasks["low"])
    cfg = tiny_config()
    cfg["datasets"]["digits"]["split"] = {"train": 0.5, "val": 0.3, "test": 0.2}
    after = to_params(_load(tmp_path, cfg).tasks["low"])
    assert after["split"] == {"train": 0.5, "val": 0.3, "test": 0.2} != before["split"]


def test_a_task_on_a_dataset_with_its_own_test_file(tmp_path):
    """The budget check needs only the registry's counts: nothing is loaded or downloaded."""
    cfg = tiny_config()
    del cfg["nas"]
    cfg["datasets"] = {"mnist": {"split": {"val": 0.1}}}
    cfg["tasks"] = [{"id": t, "dataset": "mnist", "classes": classes} for t, classes in (("a", [0, 1]), ("b", [5, 6]))]
    cfg["task_defaults"]["samples_per_class"] = 6313  # all of class 5's images, train and test file
    exp = _load(tmp_path, cfg)
    sizes = config.pool_sizes(config.dataset_info("mnist"), exp.datasets["mnist"].split)
    assert exp.tasks["b"].split_counts(sizes)[5] == tuple(sizes[5])
    cfg["task_defaults"]["samples_per_class"] = 6314
    with pytest.raises(ConfigError, match=r"tasks\[b\].samples_per_class: 6314 per label needs .* of class 5"):
        _load(tmp_path, cfg)


def test_resample_of_a_config_task(tmp_path):
    exp = _load(tmp_path, tiny_config())
    again = specs.resample(exp.tasks["low"])
    assert again.id == "low@resample" and again.seed == stable_seed(exp.tasks["low"].seed, "resample")
    assert again.label_map == exp.tasks["low"].label_map and again.split == exp.tasks["low"].split
    with pytest.raises(ConfigError, match=r"tasks\[low@resample\].id: 'low@resample' does not match"):  # reserved form
        _load(tmp_path, _set(tiny_config(), 0, id="low@resample"))


def test_specs_round_trip_through_params():
    exp = config.from_dict(config.validate_schema(tiny_config()))
    usps = specs.DatasetSpec("usps", None, False, default_split(dataset_info("usps")))
    datasets = (exp.datasets["digits"], usps)  # a test fraction, and a test file instead
    for spec in (exp.tasks["parity"], *datasets, exp.fisher, exp.network, exp.train, exp.image, exp.nas, exp.tanas):
        params = to_params(spec)
        assert repr(params) == repr(to_params(from_params(type(spec), params)))
        assert from_params(type(spec), params) == spec


def test_tanas_defaults_of_the_schema_are_those_of_the_library():
    """The schema's defaults and complexity_distance's keyword defaults must not drift apart."""
    import inspect

    from taskdist.methods.tanas import complexity_distance

    cfg = tiny_config()
    del cfg["nas"], cfg["tanas"]
    exp = config.from_dict(config.validate_schema(cfg))
    assert not exp.nas.enabled
    defaults = {k: p.default for k, p in inspect.signature(complexity_distance).parameters.items()}
    for key, value in to_params(exp.tanas).items():
        if key != "samples":
            assert defaults[key] == value, key


def test_stable_seed_is_deterministic_and_distinguishes_parts():
    assert stable_seed(0, "fisher", "a", "b") == stable_seed(0, "fisher", "a", "b")
    assert stable_seed(0, "fisher", "a", "b") != stable_seed(0, "fisher", "b", "a")
    assert 0 <= stable_seed("x") < 2**31


def _set(cfg, task_index, **changes):
    cfg["tasks"][task_index].update(changes)
    for key, value in list(changes.items()):
        if value is None:
            del cfg["tasks"][task_index][key]
    return cfg


def _dataset(cfg, name="digits", **changes):
    cfg["datasets"][name] = {**(cfg["datasets"].get(name) or {}), **changes}
    return cfg


def _nas(cfg, **changes):
    cfg["nas"].update(changes)
    return cfg


def _probe(cfg, **probe):
    """Task2Vec requested, with the probe ``probe``."""
    cfg["distances"]["methods"] = [*cfg["distances"]["methods"], "task2vec"]
    cfg["task2vec"] = {"probe": probe}
    return cfg


BAD = {
    "unknown dataset": (lambda c: _set(c, 0, dataset="imagenet"), ["tasks[low].dataset", "imagenet"]),
    "unknown dataset source": (
        lambda c: {**c, "datasets": {**c["datasets"], "imagenet": {}}},
        ["datasets.imagenet", "unknown dataset"],
    ),
    "class not in dataset": (lambda c: _set(c, 1, classes=[7, 8, 12]), ["tasks[high].classes", "class 12"]),
    "overlapping labels": (
        lambda c: _set(c, 2, labels={"even": [0, 2], "odd": [1, 2]}),
        ["tasks[parity].labels", "class 2"],
    ),
    "empty label": (lambda c: _set(c, 2, labels={"even": [0, 2], "odd": []}), ["tasks[parity].labels", "'odd'"]),
    "duplicate task id": (lambda c: _set(c, 1, id="low"), ["tasks[low].id", "duplicate"]),
    "fewer than two tasks": (lambda c: {**c, "tasks": c["tasks"][:1]}, ["tasks", "at least two"]),
    "budget too large": (lambda c: _set(c, 0, samples_per_class=500), ["tasks[low].samples_per_class", "500"]),
    "unknown method": (
        lambda c: {**c, "distances": {"methods": ["ftd", "magic"]}},
        ["distances.methods", "magic"],
    ),
    "nas: unknown base task": (
        lambda c: _nas(c, base_tasks=["low", "lowe"]),
        ["nas.base_tasks", "'lowe' is not a task id"],
    ),
    "nas: target is a base": (lambda c: _nas(c, targets=["low"]), ["nas.targets", "['low']", "also base tasks"]),
    "nas: targets without bases": (lambda c: _nas(c, base_tasks=[]), ["nas.base_tasks", "at least one"]),
    "nas: k above the bases": (lambda c: _nas(c, k=3), ["nas.k", "3 nearest", "1 <= k <= 2"]),
    "nas: method not computed": (lambda c: _nas(c, method="task2vec"), ["nas.method", "'task2vec'"]),
    "nas: bad budget": (lambda c: _nas(c, search={"stages": 0}), ["nas.search.stages"]),
    "tanas: tolerance of 1": (lambda c: {**c, "tanas": {"tolerance": 1.0}}, ["tanas.tolerance"]),
    "both classes and labels": (lambda c: _set(c, 0, labels={"a": [0], "b": [1]}), ["tasks[low].classes"]),
    "schema: wrong type": (lambda c: _set(c, 1, samples_per_class="many"), ["tasks[high].samples_per_class"]),
    "task split": (
        lambda c: _set(c, 0, split={"train": 0.6, "val": 0.2, "test": 0.2}),
        ["config key tasks[low].split: splits belong to datasets now; set datasets.digits.split"],
    ),
    "task_defaults split": (
        lambda c: {**c, "task_defaults": {**c["task_defaults"], "split": {"train": 0.6, "val": 0.2, "test": 0.2}}},
        ["config key task_defaults.split: splits belong to datasets now", "e.g. datasets.digits.split"],
    ),
    "dataset split does not sum to 1": (
        lambda c: _dataset(c, split={"train": 0.5, "val": 0.2, "test": 0.2}),
        ["datasets.digits.split", "sum to 1", "0.9"],
    ),
    "dataset split incomplete": (
        lambda c: _dataset(c, split={"train": 0.8, "val": 0.2}),
        ["datasets.digits.split.test", "train, val and test"],
    ),
    "dataset split unknown key": (lambda c: _dataset(c, split={"training": 0.8}), ["datasets.digits.split"]),
    "train fraction for a dataset with a test file": (
        lambda c: _dataset(c, "mnist", split={"train": 0.9, "val": 0.1}),
        ["datasets.mnist.split.train", "own test part", "only `val`"],
    ),
    "test fraction for a dataset with a test file": (
        lambda c: _dataset(c, "cifar10", split={"val": 0.1, "test": 0.2}),
        ["datasets.cifar10.split.test", "own test part"],
    ),
    "budget exceeds a pool": (  # 178 images of class 0: pools 89 / 44 / 45, but the task takes 89 / 45 / 44
        lambda c: _set(_dataset(c, split={"train": 0.5, "val": 0.25, "test": 0.25}), 0, samples_per_class=178),
        ["tasks[low].samples_per_class", "needs 45 val images of class 0", "val pool of dataset 'digits' holds 44"],
    ),
    "trained probe given an arch": (
        lambda c: _probe(c, kind="trained", tasks=["low"], arch="resnet18"),
        ["task2vec.probe.arch", "a trained probe", "takes no arch", "probe.kind: torchvision"],
    ),
    "trained probe given weights": (
        lambda c: _probe(c, kind="trained", tasks=["low"], weights="w.pt"),
        ["task2vec.probe.weights", "takes no weights (got 'w.pt')"],
    ),
    "trained probe without tasks": (lambda c: _probe(c, kind="trained"), ["task2vec.probe.tasks", "at least one"]),
    "trained probe on an unknown task": (
        lambda c: _probe(c, kind="trained", tasks=["lo"]),
        ["task2vec.probe.tasks", "'lo' is not a task id"],
    ),
    "torchvision probe without arch": (lambda c: _probe(c, kind="torchvision"), ["task2vec.probe.arch", "needs"]),
    "torchvision probe, unknown arch": (
        lambda c: _probe(c, kind="torchvision", arch="resnet19"),
        ["task2vec.probe.arch", "'resnet19' is not a torchvision classification architecture", "resnet18"],
    ),
    "torchvision probe, missing weights file": (
        lambda c: _probe(c, kind="torchvision", arch="resnet18", weights="no/such/weights.pt"),
        ["task2vec.probe.weights", "cannot read the weights file 'no/such/weights.pt'", "No such file"],
    ),
    "torchvision probe given tasks": (
        lambda c: _probe(c, kind="torchvision", arch="resnet18", tasks=["low"]),
        ["task2vec.probe.tasks", "not trained on tasks"],
    ),
    "budget leaves a split empty": (
        lambda c: _set(c, 0, samples_per_class=3),
        ["tasks[low].samples_per_class", "leaves the test split of label '0' empty"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_raises_naming_task_and_key(tmp_path, case):
    mutate, expected = BAD[case]
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, mutate(tiny_config()))
    for fragment in expected:
        assert fragment in str(err.value)


# Snakemake plans with the same config.from_dict as config.load (rules/common.smk), so every case above
# stops it; these show that it stops before any job, for a dataset, a task, a budget and the probe.
@pytest.mark.workflow
@pytest.mark.parametrize("case", ["unknown dataset", "overlapping labels", "budget exceeds a pool",
                                  "torchvision probe, missing weights file"])
def test_bad_config_stops_snakemake_before_any_job(tmp_path, case):
    mutate, expected = BAD[case]
    write_config(tmp_path, mutate(tiny_config()))
    proc = snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    for fragment in expected:
        assert fragment in message
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "resources").exists()


def test_transfer_budget_must_fit_every_tasks_splits(tmp_path):
    cfg = tiny_config()
    cfg["transfer"]["holdout_per_class"] = 5  # 20 per class, 0.2 of them val: 4
    with pytest.raises(ConfigError, match=r"transfer.holdout_per_class: 5 val examples per label are needed, but "
                                          r"label 0 \('0'\) of task 'low' has 4"):
        _load(tmp_path, cfg)
    cfg = tiny_config()
    cfg["transfer"]["samples_per_class"] = 13
    with pytest.raises(ConfigError, match=r"transfer.samples_per_class: 13 train examples"):
        _load(tmp_path, cfg)
    cfg = tiny_config()  # the fix for a train/ + test/ image folder: a larger val share of its train part
    cfg["transfer"]["holdout_per_class"] = 5
    dataset = cfg["tasks"][0]["dataset"]
    with pytest.raises(ConfigError, match=rf"a larger share \(datasets\.{dataset}\.split\.val\)"):
        _load(tmp_path, cfg)


def test_a_method_left_out_is_not_judged(tmp_path):
    """Without a task2vec method, the probe's settings are not read: a probe task that no longer exists is fine."""
    cfg = tiny_config()
    cfg["distances"]["methods"] = [m for m in cfg["distances"]["methods"] if not m.startswith("task2vec")]
    cfg["task2vec"] = {"probe": {"kind": "trained", "tasks": ["gone"]}}
    assert _load(tmp_path, cfg).task2vec.probe_tasks == ()
    cfg["distances"]["methods"].append("task2vec")
    with pytest.raises(ConfigError, match=r"task2vec.probe.tasks: 'gone' is not a task id"):
        _load(tmp_path, cfg)


@pytest.mark.parametrize(("key", "new"), [("seeds", "transfer.replicates"), ("epochs", "transfer.finetune.max_epochs"),
                                          ("lr", "transfer.finetune.lr")])
def test_old_transfer_keys_are_rejected_with_their_new_name(tmp_path, key, new):
    cfg = tiny_config()
    cfg["transfer"][key] = 3
    with pytest.raises(ConfigError, match=rf"config key transfer.{key} is no longer used; use {new}"):
        _load(tmp_path, cfg)


def test_transfer_settings_and_target_examples(tmp_path):
    exp = _load(tmp_path, tiny_config())
    assert exp.transfer.settings == ("finetune", "linear") and exp.target_examples == "budget"
    cfg = tiny_config()
    cfg["transfer"]["settings"] = ["linear"]
    cfg["distances"]["target_examples"] = "train"
    exp = _load(tmp_path, cfg)
    assert exp.transfer.settings == ("linear",) and exp.target_examples == "train"
    cfg["transfer"]["settings"] = ["probe"]
    with pytest.raises(ConfigError, match="transfer.settings"):
        _load(tmp_path, cfg)


def test_target_samples_fit_every_targets_budget(tmp_path):
    cfg = tiny_config()  # a budget of 6 + 3 per label; parity has two labels, the others three
    cfg["distances"]["target_samples"] = 18
    assert _load(tmp_path, cfg).target_samples == 18
    cfg["distances"]["target_samples"] = 19
    with pytest.raises(ConfigError, match=r"task 'parity' has a labelled budget of 18 .*lower it to at most 18"):
        _load(tmp_path, cfg)
    cfg["distances"].update(target_samples=10, target_examples="train")
    with pytest.raises(ConfigError, match="distances.target_samples: 10 .* distances.target_examples is 'train'"):
        _load(tmp_path, cfg)


def test_the_schema_names_each_choice_as_the_code_does():
    """Every enum of the schema is the tuple of names the code that reads it accepts: one name per concept."""
    from taskdist.evaluation import mantel, transfer
    from taskdist.methods import bound, fisher, probes, task2vec

    schema = yaml.safe_load(config.SCHEMA_PATH.read_text())["properties"]
    task2vec_schema = schema["task2vec"]["properties"]
    pairs = {
        "fisher.estimator": (schema["fisher"]["properties"]["estimator"]["enum"], fisher.ESTIMATORS),
        "fisher.granularity": (schema["fisher"]["properties"]["granularity"]["enum"], fisher.GRANULARITIES),
        "task2vec.estimator": (task2vec_schema["estimator"]["enum"], task2vec.FISHER_KINDS),
        "task2vec.probe.kind": (task2vec_schema["probe"]["properties"]["kind"]["enum"], probes.PROBE_KINDS),
        "transfer.settings": (schema["transfer"]["properties"]["settings"]["items"]["enum"], transfer.SETTINGS),
        "mantel.method": (schema["mantel"]["properties"]["method"]["enum"], mantel.CORRELATIONS),
        "transfer_bound.setting": (schema["transfer_bound"]["properties"]["setting"]["enum"], bound.BOUND_SETTINGS),
    }
    for key, (in_schema, in_code) in pairs.items():
        assert tuple(in_schema) == tuple(in_code), key
    # the estimators both Fisher estimates share are spelled alike
    assert set(task2vec.FISHER_KINDS) - {"variational"} <= set(fisher.ESTIMATORS)
    assert "montecarlo" not in task2vec.FISHER_KINDS


def test_an_old_value_is_rejected_with_its_new_name(tmp_path):
    cfg = tiny_config()
    cfg["task2vec"] = {"estimator": "montecarlo"}
    with pytest.raises(ConfigError, match=r"config key task2vec.estimator: 'montecarlo' is now called 'mc'"):
        _load(tmp_path, cfg)
