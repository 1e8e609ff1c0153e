"""The workflow on a real SLURM cluster through profiles/slurm: same artifacts as a local run, fewer submissions
than pair jobs.

The run (``slurm_run``, tests/conftest.py) makes the tiny config's dataset and task tables locally and computes
the rest of the FTD matrix through SLURM: training, every Fisher pair, the matrix. It goes on in the background
while the other tests run; these tests come last.

Needs a cluster with an idle node (`sudo bash tests/slurm/up.sh` brings up a one-node cluster on localhost);
skipped without one, unless TASKDIST_REQUIRE_SLURM=1 (CI), which makes a missing cluster a failure.
"""

import re
from pathlib import Path

import pytest
from wf import FTD, SLURM_RECOMPUTES, artifacts, differing_checkpoints, differing_parquet, job_outputs, tiny_config

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

PAIR_RULES = {"fisher", "transfer", "tanas"}  # group "pairs" in rules/*.smk
SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", flags=re.M)


def test_slurm_run_writes_the_local_runs_artifacts(slurm_run, reference):  # reference: tests/conftest.py
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
    ran = {out for _, outs in jobs.values() for out in outs}  # the dataset and task tables were made locally
    assert ran == {p for p in artifacts(workdir) if p.startswith(tuple(f"{d}/" for d in SLURM_RECOMPUTES))}
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
