"""A run killed mid-way resumes without redoing finished jobs; runs with the same seed write identical bytes.

One run serves both (``killed_run``, tests/conftest.py): the tiny config to the FTD matrix, one job at a time (the
session's reference ran two at a time), killed once some pairs have finished and another job is running, then
resumed. Its artifacts must equal the reference's byte for byte: neither the kill nor the order of jobs may change
a result.
"""

import pytest
from wf import (
    FTD,
    KILL_AFTER_PAIRS,
    artifacts,
    differing_checkpoints,
    differing_parquet,
    finished_outputs,
    job_outputs,
    stamp,
)

pytestmark = pytest.mark.workflow


def test_killed_run_resumes_without_rerunning_finished_jobs(killed_run, reference):
    workdir, killed_log, rerun_log, stamps = killed_run
    finished = finished_outputs(killed_log)
    started = {out for _, outs in job_outputs(killed_log).values() for out in outs}
    assert FTD not in finished and started - set(finished), "the kill should interrupt running jobs"
    assert sum(rule == "fisher" for rule in finished.values()) >= KILL_AFTER_PAIRS

    rerun = {out for _, outs in job_outputs(rerun_log).values() for out in outs}
    assert not rerun & set(finished), f"finished jobs ran again: {sorted(rerun & set(finished))}"
    assert FTD in rerun and rerun | set(finished) >= artifacts(reference)
    rewritten = [p for p, before in stamps.items() if stamp(workdir / p) != before]
    assert not rewritten, f"outputs of finished jobs were rewritten: {rewritten}"
    assert artifacts(workdir) == artifacts(reference)


def test_two_runs_with_the_same_seed_write_byte_identical_parquet(killed_run, reference):
    # One job at a time (until the kill) here, two at a time in the reference: the order of jobs must not matter,
    # nor must the kill (its interrupted jobs ran again).
    workdir, killed_log, _, _ = killed_run
    assert "Provided cores: 1" in killed_log
    assert artifacts(workdir) == artifacts(reference)
    assert any(p.startswith("results/fisher/") for p in artifacts(reference))
    assert (workdir / FTD).read_bytes() == (reference / FTD).read_bytes()
    assert differing_parquet(workdir, reference) == []
    assert differing_checkpoints(workdir, reference) == []
