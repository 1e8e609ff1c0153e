"""Per-rule resources as a dry run shows them: with ``device: cuda`` every rule that runs torch asks for one GPU,
and no other rule does; with ``device: cpu`` none does; a bundle of pair jobs asks for one GPU in all.

The dry runs go through the SLURM profile (what a cluster user runs), on the tiny config with every method,
Task2Vec and the FTD consistency networks switched on, so that every rule of ``rules/*.smk`` plans a job.
"""

import re
from pathlib import Path

import pytest
import yaml
from wf import REPO, snakemake, tiny_config, write_config

from taskdist.methods.registry import METHODS

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm"
JOB = re.compile(r"^\s*(?:local)?rule (\w+):\n(?:\s+\w+: .*\n)*?\s+resources: (.+)$", flags=re.M)


def rule_scripts() -> dict[str, str]:
    """Every rule of rules/*.smk and the text of the script it runs ('' for rules without one)."""
    scripts = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", smk.read_text()):
            name = re.match(r"rule (\w+):", block)
            if name:
                script = re.search(r'script:\s*\n\s*"\.\./(.+?)"', block)
                scripts[name.group(1)] = (REPO / script.group(1)).read_text() if script else ""
    return scripts


def torch_rules() -> set[str]:
    """Rules whose script starts its job with torch on the configured device."""
    return {rule for rule, text in rule_scripts().items() if "start(snakemake, torch=True)" in text}


def every_rule_config(device: str) -> dict:
    cfg = tiny_config()
    cfg["device"] = device
    cfg["distances"]["methods"] = sorted(METHODS)
    cfg["task2vec"] = {"probe": {"kind": "trained", "tasks": ["low", "high"]}}
    cfg["consistency"] = {"seeds": 2}
    return cfg


def planned_resources(workdir: Path, device: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources of each of its planned jobs, from a dry run through the SLURM profile."""
    write_config(workdir, every_rule_config(device))
    proc = snakemake(workdir, "-n", "--profile", str(PROFILE))
    jobs: dict[str, list[dict[str, str]]] = {}
    for rule, resources in JOB.findall(proc.stdout + proc.stderr):
        jobs.setdefault(rule, []).append(dict(item.split("=", 1) for item in resources.split(", ")))
    return jobs


@pytest.fixture(scope="module", params=["cuda", "cpu"])
def planned(request, tmp_path_factory) -> tuple[str, dict[str, list[dict[str, str]]]]:
    return request.param, planned_resources(tmp_path_factory.mktemp(request.param), request.param)


def test_every_rule_plans_a_job(planned):
    _, jobs = planned
    assert set(jobs) - {"all"} == set(rule_scripts())


def test_torch_rules_and_only_they_ask_for_a_gpu_with_cuda(planned):
    device, jobs = planned
    assert {"train_task", "fisher", "transfer", "scratch", "task2vec_embed", "path_length"} <= torch_rules()
    for rule, resources in jobs.items():
        wanted = "1" if device == "cuda" and rule in torch_rules() else "0"
        asked = {job.get("gpu", "0") for job in resources}
        assert asked == {wanted}, f"rule {rule} with device {device}: gpu={asked}, expected {wanted}"


def test_a_bundle_of_pair_jobs_asks_for_one_gpu_and_runs_its_members_on_it(planned):
    """Snakemake's own group arithmetic on the planned pair jobs, under the profile's limits."""
    from snakemake.resources import GroupResources, Resources

    device, jobs = planned
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    bundle = int(next(g for g in profile["group-components"] if g.startswith("pairs=")).split("=")[1])
    limits = dict(profile["resources"])
    assert limits.get("gpu") == 1
    members = (jobs["fisher"] + jobs["transfer"])[:bundle]

    class Planned:  # what basic_layered reads of a job
        pipe_group = None

        def __init__(self, resources: dict[str, str]):
            self.resources = {k: int(v) for k, v in resources.items() if k in ("gpu", "runtime", "mem_mb")}
            self.resources["_cores"] = 1

    group = GroupResources.basic_layered(
        [[Planned(job) for job in members]],
        Resources.from_mapping({**limits, "_cores": profile["cores"]}),
        run_local=False,
    )
    runtimes = [int(job["runtime"]) for job in members]
    if device == "cuda":
        assert group["gpu"] == 1
        assert group["runtime"] == sum(runtimes)  # one after another on the one GPU
    else:
        assert group.get("gpu", 0) == 0


def test_the_profile_scopes_gpus_per_submission():
    snakefile = (REPO / "Snakefile").read_text()
    assert re.search(r'resource_scopes:\s*\n\s*gpu="local"', snakefile)
