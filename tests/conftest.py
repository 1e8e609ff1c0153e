"""Fixtures shared by the test modules: torch's thread count for unit tests, and the workflow runs of the tiny
config that several workflow test modules read.

The shared runs are computed once per session, in the background: at the session's first test, every run the
collected tests need is started (each in a thread of its own, a run waiting for the run it starts from), and a
test's fixture waits for its run. The tests that wait for a shared run come after all others, in the order their
runs end (``pytest_collection_modifyitems``): the runs, which spend much of their time starting job processes
and waiting for SLURM, go on while the other tests run. The SLURM run and the reference start first (SLURM's
status polling backs off to minutes: it takes longest); the complete run, the killed run and the modules' runs
that start from the reference follow it.

- ``reference``: the tiny config to the FTD matrix, two jobs at a time; read only. tests/test_restart.py and
  tests/test_slurm.py compare their runs with it, byte for byte.
- ``tiny_run``: a copy of ``reference``, completed (nothing of it computed again); tests/test_workflow.py reads
  it and dry-runs edits of its config (restoring it), and copies it to run more jobs.
- ``killed_run``: the tiny config to FTD, one job at a time, killed after some pairs and resumed.
- ``slurm_run``: the tiny config's dataset and task tables locally, then training, every pair and the FTD matrix
  through SLURM (profiles/slurm).

A test module adds runs of its own with the decorator ``wf.shared_run``: they start with the session too, or from
the end of another shared run (tests/test_workflow.py: adding a NAS base, from the reference).
"""

import os
import signal
from concurrent.futures import Future, ThreadPoolExecutor, wait

import pytest
import torch
from wf import (
    FTD,
    MODULE_RUNS,
    cluster_problem,
    complete_copy,
    killed_and_resumed,
    run_through_slurm,
    run_tiny,
    stop_processes,
)


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: extra threads only add contention when other jobs share the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


WAITS = {"killed_run": 1, "tiny_run": 2, "slurm_run": 3}  # the order the shared runs end, the reference first


def pytest_collection_modifyitems(config, items):
    """Tests that wait for a shared run after all others, in the order their runs end (a stable sort: the order
    within each group stays), so that the other tests run while the runs do."""
    def waits_for(item) -> int:
        names = set(getattr(item, "fixturenames", ()))
        ranks = [rank for run, rank in WAITS.items() if run in names]
        ranks += [WAITS["tiny_run"] for run in MODULE_RUNS if run in names]  # they end about when it does
        return max(ranks, default=0)

    items.sort(key=waits_for)


def after(runs: list[Future], fn):
    """``fn``, called once ``runs`` have ended (succeeded or not)."""
    def call(*args):
        wait(runs)
        return fn(*args)

    return call


class SharedRuns:
    """The shared runs the session's tests need, started at once; :meth:`result` waits for one."""

    def __init__(self, factory, needs: set[str]):
        self._pool = ThreadPoolExecutor(max_workers=4 + len(MODULE_RUNS), thread_name_prefix="shared-run")
        self._runs: dict[str, Future] = {}
        module_runs = {name: run for name, run in MODULE_RUNS.items() if name in needs}
        needs = needs | {start_from for _, start_from in module_runs.values() if start_from}
        self.slurm_problem = cluster_problem() if "slurm_run" in needs else None
        slurm = "slurm_run" in needs and not self.slurm_problem
        if slurm:  # the longest: SLURM's status polling backs off to minutes
            self._start("slurm_run", run_through_slurm, factory.mktemp("slurm") / "run")
        if needs & {"reference", "tiny_run"} or slurm:
            reference = self._start("reference", run_tiny, factory.mktemp("reference"), FTD)
            if "tiny_run" in needs:
                self._start("tiny_run", lambda w: complete_copy(reference.result(), w), factory.mktemp("tiny") / "run")
        if "killed_run" in needs:  # after the reference, which more tests wait for
            first = [self._runs["reference"]] if "reference" in self._runs else []
            self._start("killed_run", after(first, killed_and_resumed), factory.mktemp("killed") / "run")
        for name, (run, start_from) in module_runs.items():  # registered by test modules (wf.shared_run)
            if start_from:
                first = self._runs[start_from]
                self._start(name, lambda w, run=run, first=first: run(first.result(), w), factory.mktemp(name) / "run")
            else:
                self._start(name, run, factory.mktemp(name) / "run")

    def _start(self, name, fn, *args) -> Future:
        self._runs[name] = self._pool.submit(fn, *args)
        return self._runs[name]

    def result(self, name):
        return self._runs[name].result()

    def stop(self):
        for run in self._runs.values():
            run.cancel()
        stop_processes()
        self._pool.shutdown(wait=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def shared_runs(request, tmp_path_factory):
    """The shared runs, stopped at the session's end, also when it is interrupted or terminated (SIGTERM is
    turned into an interrupt meanwhile, so that this teardown runs)."""
    needs = set().union(*(getattr(item, "fixturenames", ()) for item in request.session.items))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    runs = SharedRuns(tmp_path_factory, needs)
    try:
        yield runs
    finally:
        runs.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def reference(shared_runs):
    """One uninterrupted local run of the tiny config to the FTD matrix (two jobs at a time). Read only."""
    return shared_runs.result("reference")


@pytest.fixture(scope="session")
def tiny_run(shared_runs):
    """A complete run of the tiny config: a copy of ``reference`` completed. Tests that edit its config restore it;
    tests that run more jobs do so in a copy."""
    return shared_runs.result("tiny_run")


@pytest.fixture(scope="session")
def killed_run(shared_runs):
    """(working directory, log of the killed run, log of the resumed run, stamps of finished outputs before)."""
    return shared_runs.result("killed_run")


@pytest.fixture(scope="session")
def slurm_run(shared_runs):
    """The tiny config's dataset and tasks locally, then training, every pair and the FTD matrix through
    profiles/slurm: (working directory, Snakemake's log of the SLURM run). Skipped without a cluster, unless
    TASKDIST_REQUIRE_SLURM=1 (CI)."""
    if shared_runs.slurm_problem:
        if os.environ.get("TASKDIST_REQUIRE_SLURM") == "1":
            pytest.fail(f"TASKDIST_REQUIRE_SLURM=1 but {shared_runs.slurm_problem}")
        pytest.skip(shared_runs.slurm_problem)
    return shared_runs.result("slurm_run")
