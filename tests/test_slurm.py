"""The workflow on a real SLURM cluster through profiles/slurm: same artifacts as a local run, fewer submissions
than pair jobs.

Needs a cluster with an idle node (`sudo bash tests/slurm/up.sh` brings up a one-node cluster on localhost);
skipped without one, unless TASKDIST_REQUIRE_SLURM=1 (CI), which makes a missing cluster a failure.
"""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from wf import (
    FTD,
    REPO,
    artifacts,
    differing_checkpoints,
    differing_parquet,
    job_outputs,
    reference_run,
    snakemake,
    tiny_config,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

# Test-only overrides of profiles/slurm: poll a quiet one-node cluster often, keep SLURM's logs to inspect,
# and train with one thread as the local reference run does (float reductions depend on the thread count).
# These --set-threads/--set-resources replace the profile's whole set-threads/set-resources; the profile's
# executor, status command and group-components (the bundling under test) stay.
OVERRIDES = (
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
    "--slurm-keep-successful-logs",
    "--set-threads", "train_task=1",
    "--set-resources", "train_task:cpus_per_task=1", "train_task:mem_mb=2000",
)  # fmt: skip
PAIR_RULES = {"fisher", "transfer", "tanas"}  # group "pairs" in rules/*.smk
SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", flags=re.M)


def cluster_problem() -> str | None:
    """Why the workflow cannot run on SLURM here, or None."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client (sinfo/sbatch) on PATH; tests/slurm/up.sh brings up a local cluster"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: is slurmctld running?"
    if proc.returncode != 0 or "idle" not in proc.stdout.split():
        return f"no idle SLURM node (sinfo: {(proc.stdout + proc.stderr).strip() or proc.returncode})"
    return None


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """The tiny config to the FTD matrix through profiles/slurm: (working directory, Snakemake's log)."""
    problem = cluster_problem()
    if problem:
        if os.environ.get("TASKDIST_REQUIRE_SLURM") == "1":
            pytest.fail(f"TASKDIST_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)
    workdir = tmp_path_factory.mktemp("slurm")
    write_config(workdir, tiny_config())
    # The target first: --set-resources takes every argument up to the next option.
    proc = snakemake(workdir, FTD, "--profile", str(REPO / "profiles" / "slurm"), *OVERRIDES, timeout=1200)
    return workdir, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory, FTD)


def test_slurm_run_writes_the_local_runs_artifacts(slurm_run, reference):
    workdir, _ = slurm_run
    assert artifacts(workdir) == artifacts(reference)
    assert differing_parquet(workdir, reference) == []  # byte for byte
    assert differing_checkpoints(workdir, reference) == []  # tensors and metadata
    assert (workdir / FTD).read_bytes() == (reference / FTD).read_bytes()


def test_every_job_went_through_slurm(slurm_run):
    workdir, log = slurm_run
    jobs = job_outputs(log)
    submissions = SUBMITTED.findall(log)
    assert jobs and submissions, f"no SLURM submissions in the log:\n{log}"
    assert "localrule" not in log, "some jobs ran on the submit host"
    job_ids = [int(slurm_id) for _, slurm_id, _ in submissions]
    assert len(set(job_ids)) == len(job_ids)
    for _, slurm_id, slurm_log in submissions:
        # The path has SLURM's %j filled in: slurmd wrote it for this job id.
        path = Path(slurm_log)
        assert path.name == f"{slurm_id}.log" and path.is_file() and path.stat().st_size > 0, path
        assert path.is_relative_to(workdir / ".snakemake" / "slurm_logs")
    main_logs = list((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    assert any("has been submitted with SLURM jobid" in p.read_text() for p in main_logs)


def test_pair_jobs_are_bundled_into_fewer_submissions(slurm_run):
    _, log = slurm_run
    jobs = job_outputs(log)
    submissions = SUBMITTED.findall(log)
    pairs = [jobid for jobid, (rule, _) in jobs.items() if rule in PAIR_RULES]
    pair_submissions = [s for s in submissions if "/group_pairs" in s[2]]
    others = len(jobs) - len(pairs)
    print(f"\n{len(jobs)} jobs ({len(pairs)} pair jobs) in {len(submissions)} SLURM submissions "
          f"({len(pair_submissions)} for the pairs)")  # fmt: skip
    assert len(pairs) >= len(tiny_config()["tasks"]) ** 2  # every network on every task
    assert 1 <= len(pair_submissions) < len(pairs)
    assert len(submissions) == others + len(pair_submissions) < len(jobs)
