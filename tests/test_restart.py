"""A run killed mid-way resumes without redoing finished jobs; runs with the same seed write identical bytes."""

import os
import signal
import subprocess
import sys
import time

import pytest
from wf import (
    FTD,
    REPO,
    artifacts,
    differing_checkpoints,
    differing_parquet,
    finished_outputs,
    job_outputs,
    reference_run,
    snakemake,
    tiny_config,
    write_config,
)

pytestmark = pytest.mark.workflow

KILL_AFTER_PAIRS = 3  # SIGKILL once this many fisher jobs have finished


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory, FTD)


def kill_after_finished_pairs(workdir, n_pairs, log_path, timeout=900.0):
    """Start the workflow in its own process group, SIGKILL the whole group once ``n_pairs`` fisher jobs have
    finished; return the log it wrote."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", FTD]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    pgid = proc.pid  # start_new_session: the group is led by snakemake
    deadline = time.monotonic() + timeout
    try:
        while True:
            finished = finished_outputs(log_path.read_text())
            if sum(rule == "fisher" for rule in finished.values()) >= n_pairs:
                break
            if proc.poll() is not None:
                raise AssertionError(f"snakemake ended ({proc.returncode}) early:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {n_pairs} pairs after {timeout} s:\n{log_path.read_text()}")
            time.sleep(0.2)
        os.killpg(pgid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()
    for _ in range(100):  # job processes of the group die with it
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"processes of group {pgid} survived SIGKILL")
    return log_path.read_text()


def stamp(path):
    """Modification time and inode: an atomic rewrite (new file renamed over it) changes both."""
    st = path.stat()
    return st.st_mtime_ns, st.st_ino


def test_killed_run_resumes_without_rerunning_finished_jobs(tmp_path, reference):
    workdir = tmp_path / "run"
    write_config(workdir, tiny_config())
    killed_log = kill_after_finished_pairs(workdir, KILL_AFTER_PAIRS, tmp_path / "killed.log")

    finished = finished_outputs(killed_log)
    started = {out for _, outs in job_outputs(killed_log).values() for out in outs}
    assert FTD not in finished and started - set(finished), "the kill should interrupt running jobs"
    stamps = {p: stamp(workdir / p) for p in finished}

    # What a user does after a crash: remove the stale lock, then resume, redoing incomplete jobs.
    snakemake(workdir, "--unlock")
    rerun_log = snakemake(workdir, "--cores", "2", "--rerun-incomplete", FTD)
    rerun_log = rerun_log.stdout + rerun_log.stderr

    rerun = {out for _, outs in job_outputs(rerun_log).values() for out in outs}
    assert not rerun & set(finished), f"finished jobs ran again: {sorted(rerun & set(finished))}"
    assert FTD in rerun and rerun | set(finished) >= artifacts(reference)
    rewritten = [p for p, before in stamps.items() if stamp(workdir / p) != before]
    assert not rewritten, f"outputs of finished jobs were rewritten: {rewritten}"
    assert artifacts(workdir) == artifacts(reference)
    assert (workdir / FTD).read_bytes() == (reference / FTD).read_bytes()
    assert differing_parquet(workdir, reference) == []
    assert differing_checkpoints(workdir, reference) == []


def test_two_runs_with_the_same_seed_write_byte_identical_parquet(tmp_path, reference):
    # One job at a time here, two at a time in the reference: the order of jobs must not matter either.
    write_config(tmp_path, tiny_config())
    snakemake(tmp_path, "--cores", "1", FTD)
    assert artifacts(tmp_path) == artifacts(reference)
    assert any(p.startswith("results/fisher/") for p in artifacts(reference))
    assert differing_parquet(tmp_path, reference) == []
    assert differing_checkpoints(tmp_path, reference) == []
