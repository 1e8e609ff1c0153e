"""The experiments of configs/: each loads and dry-runs (its data need not be present), and the README's table of
them gives the job counts a dry run plans."""

import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config
from wf import REPO, snakemake

from taskdist import config

pytestmark = pytest.mark.workflow

CONFIGS = REPO / "configs"
# Each run of the README's table: the overlays given to --configfile, on top of config.yaml.
RUNS = {
    "configs/ftd_mnist.yaml": ["ftd_mnist.yaml"],
    "configs/ftd_cifar10.yaml": ["ftd_cifar10.yaml"],
    "configs/gao_cifar100.yaml": ["gao_cifar100.yaml"],
    "configs/gao_cifar100.yaml configs/gao_cifar100_wide.yaml": ["gao_cifar100.yaml", "gao_cifar100_wide.yaml"],
    "configs/gao_cifar100.yaml configs/gao_authors_scale.yaml": ["gao_cifar100.yaml", "gao_authors_scale.yaml"],
    "configs/mehra_small.yaml": ["mehra_small.yaml"],
    "configs/literature.yaml": ["literature.yaml"],
    "configs/literature.yaml configs/wide_network.yaml": ["literature.yaml", "wide_network.yaml"],
    "configs/benchmark.yaml": ["benchmark.yaml"],
    "configs/nas_claim.yaml": ["nas_claim.yaml"],
}
TOTAL = re.compile(r"^total\s+(\d+)$", flags=re.M)


def merged(files: list[str]) -> dict:
    """config.yaml with the overlays on top, as Snakemake merges --configfile (mappings merge, lists replace)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in files:
        update_config(cfg, yaml.safe_load((CONFIGS / name).read_text()))
    return cfg


def readme_table() -> dict[str, int]:
    """The README's table of configs: the --configfile arguments of a row -> its job count."""
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `--configfile ([^`]+)` \|.*\| ([\d,]+) \|$", text, flags=re.M)
    return {files: int(jobs.replace(",", "")) for files, jobs in rows}


def test_every_config_file_is_in_a_run():
    assert {p.name for p in CONFIGS.glob("*.yaml")} == {name for files in RUNS.values() for name in files}


@pytest.mark.parametrize("files", RUNS.values(), ids=list(RUNS))
def test_the_experiment_loads(files):
    exp = config.from_dict(config.validate_schema(merged(files)))
    assert len(exp.tasks) >= 4


def test_the_papers_tasks_and_networks():
    mnist = config.from_dict(config.validate_schema(merged(["ftd_mnist.yaml"])))
    assert [t.label_map for t in mnist.tasks.values()][:3] == [
        ((0,), (1, 2, 3, 4, 5, 6, 7, 8, 9)),
        ((1,), (0, 2, 3, 4, 5, 6, 7, 8, 9)),
        ((0,), (1,), (2,), (3,), (4, 5, 6, 7, 8, 9)),
    ]
    cifar = config.from_dict(config.validate_schema(merged(["ftd_cifar10.yaml"])))
    assert cifar.tasks["T0"].label_map[0] == (1, 3, 8)  # automobile, cat, ship
    assert cifar.tasks["T2"].label_map[:3] == ((2,), (6,), (7,))  # bird, frog, horse
    assert mnist.network.arch == "densenet121" and cifar.network.arch == "resnet18"
    gao = config.from_dict(config.validate_schema(merged(["gao_cifar100.yaml"])))
    assert all(t.n_classes == 5 for t in gao.tasks.values()) and len(gao.tasks) == 5
    wide = config.from_dict(config.validate_schema(merged(["gao_cifar100.yaml", "gao_cifar100_wide.yaml"])))
    assert wide.network.widths == tuple(4 * w for w in gao.network.widths)


@pytest.mark.parametrize("args", list(RUNS), ids=list(RUNS))
def test_the_experiment_dry_runs_with_the_readmes_job_count(args, tmp_path: Path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    paths = [str(REPO / f) for f in args.split()]
    proc = snakemake(tmp_path, "-n", "--cores", "2", "--quiet", "rules", "--configfile", *paths)
    total = TOTAL.search(proc.stdout + proc.stderr)
    assert total, proc.stdout + proc.stderr
    assert readme_table().get(args) == int(total.group(1)), f"README's job count of --configfile {args}"


@pytest.mark.parametrize("n_tasks", [2, 3, 4, 5, 7, 20])
def test_the_scaled_configs_of_the_planning_benchmarks_are_valid_for_any_task_count(n_tasks, monkeypatch):
    """benchmarks/plan_scale.py (and scale_cost.py, which uses it) rename the default's task ids to n new ones;
    below 7 tasks several old ids share a new one, which must not repeat in a list nor make a target a base."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from plan_scale import scaled_config

    exp = config.from_dict(config.validate_schema(scaled_config(n_tasks)))
    assert len(exp.tasks) == n_tasks
    assert not set(exp.nas.base_tasks) & set(exp.nas.targets) and 1 <= exp.nas.k <= len(exp.nas.base_tasks)
    assert len(set(exp.task2vec.probe_tasks)) == len(exp.task2vec.probe_tasks)
