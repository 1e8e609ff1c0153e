"""Helpers for tests that run the Snakemake workflow on a tiny config in a temporary directory."""

from __future__ import annotations

import contextlib
import copy
import filecmp
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests" / "workflow" / "tiny.yaml").read_text())


def tiny_config() -> dict:
    return copy.deepcopy(TINY)


def write_config(workdir: Path, cfg: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# Snakemake puts the Snakefile's directory (this checkout) first on sys.path before it runs the Snakefile, so a
# PYTHONPATH alone cannot choose the taskdist the workflow plans with. With one given, this launcher imports
# taskdist first (-P: not from the current directory), and the Snakefile's imports find that package.
_PREIMPORT = "import runpy, taskdist; runpy.run_module('snakemake', run_name='__main__', alter_sys=True)"


# Workflow processes this session started and that may still run (the shared runs go on in threads of their own):
# process -> whether it leads a process group of its own (then its jobs are signalled with it).
_RUNNING: dict[subprocess.Popen, bool] = {}
_LOCK = threading.Lock()
_STOPPING = threading.Event()


def start_process(cmd: list[str], env: dict[str, str] | None = None, *, own_group: bool = False,
                  **kwargs) -> subprocess.Popen:
    """Start ``cmd`` (with ``env`` on top of this environment), to be stopped by :func:`stop_processes`.

    ``own_group``: in a process group of its own, which a signal to the group reaches with every job it started
    (a terminal's Ctrl-C then reaches only this session, which stops it). Otherwise in this session's group."""
    with _LOCK:
        if _STOPPING.is_set():
            raise RuntimeError(f"the test session is stopping: not starting {' '.join(cmd)}")
        proc = subprocess.Popen(cmd, start_new_session=own_group, env={**os.environ, **env} if env else None,
                                **kwargs)
        _RUNNING[proc] = own_group
    return proc


def forget(proc: subprocess.Popen) -> None:
    """``proc`` has ended (and been waited for)."""
    with _LOCK:
        _RUNNING.pop(proc, None)


def stop_processes(grace: float = 30.0) -> None:
    """Start no more processes; interrupt those still running (Snakemake stops its jobs, local or on the
    cluster, on an interrupt), and kill what is left after ``grace`` seconds."""
    with _LOCK:
        _STOPPING.set()
        running = dict(_RUNNING)
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        for proc, own_group in running.items():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    if own_group:
                        os.killpg(proc.pid, sig)
                    else:
                        proc.send_signal(sig)
        deadline = time.monotonic() + wait
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            time.sleep(0.1)


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as working directory (its config.yaml).

    ``env``: variables set for the run on top of this process's environment; a ``PYTHONPATH`` among them
    decides which ``taskdist`` package the Snakefile imports (e.g. a copy with a stage's version raised).
    """
    launch = ["-P", "-c", _PREIMPORT] if env and "PYTHONPATH" in env else ["-m", "snakemake"]
    cmd = [sys.executable, *launch, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = start_process(cmd, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # Snakemake stops its jobs
        stdout, stderr = proc.communicate()
        raise AssertionError(f"snakemake {' '.join(args)} took more than {timeout} s:\n{stdout}\n{stderr}") from None
    finally:
        forget(proc)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def planned_outputs(workdir: Path, env: dict[str, str] | None = None) -> set[str]:
    """The output files a dry run would (re)compute; empty when everything is up to date."""
    proc = snakemake(workdir, "-n", "--cores", "1", env=env)
    text = proc.stdout + proc.stderr
    outputs: set[str] = set()
    for block in re.findall(r"^\s*output: (.+)$", text, flags=re.M):
        outputs.update(p.strip() for p in block.split(","))
    return outputs


# -- the runs of the tiny config that several tests share (started once per session: tests/conftest.py) ----------

FTD = "results/distances/ftd.parquet"  # target of the compared runs: data, training, all pairs, the FTD matrix


def run_tiny(workdir: Path, *targets: str) -> Path:
    """Write the tiny config into ``workdir`` and run the workflow there (to ``targets``), two jobs at a time."""
    write_config(workdir, tiny_config())
    snakemake(workdir, "--cores", "2", *targets)
    return workdir


def complete_copy(run: Path, workdir: Path) -> Path:
    """Copy the run directory ``run`` (its files, modification times and Snakemake's records) to ``workdir`` and
    complete the workflow there: only what ``run`` lacks is computed."""
    shutil.copytree(run, workdir, symlinks=True)
    snakemake(workdir, "--cores", "2")
    return workdir


MODULE_RUNS: dict[str, tuple[Callable[..., Any], str | None]] = {}  # name -> (run, shared run it starts from)


def shared_run(run: Callable[..., Any] | None = None, *, start_from: str | None = None):
    """Make ``run(workdir)`` (a workflow run that tests of one module share) a session fixture of its name whose
    run starts in the background, in a fresh directory ``workdir`` (tests/conftest.py: ``SharedRuns``): with the
    session, or once the shared run ``start_from`` (e.g. ``"reference"``) has ended, as ``run(that_run, workdir)``::

        @shared_run
        def task2vec_run(workdir):
            ...  # write a config, run the workflow
            return workdir
    """
    import pytest

    def register(run):
        MODULE_RUNS[run.__name__] = (run, start_from)

        @pytest.fixture(scope="session", name=run.__name__)
        def fixture(shared_runs):
            return shared_runs.result(run.__name__)

        fixture.__doc__ = run.__doc__
        return fixture

    return register(run) if run is not None else register


# -- a run killed mid-way and resumed (tests/test_restart.py)

KILL_AFTER_PAIRS = 3  # SIGKILL once this many fisher jobs have finished (and another job has started)


def kill_after_finished_pairs(workdir: Path, n_pairs: int, log_path: Path, cores: int = 1,
                              timeout: float = 900.0) -> str:
    """Start the workflow to FTD in its own process group, SIGKILL the whole group once ``n_pairs`` fisher jobs
    have finished and another job has started; return the log it wrote."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores",
           str(cores), FTD]
    with open(log_path, "w") as log:
        proc = start_process(cmd, {"PYTHONUNBUFFERED": "1"}, own_group=True, stdout=log, stderr=subprocess.STDOUT)
    pgid = proc.pid  # the group is led by snakemake
    deadline = time.monotonic() + timeout
    try:
        while True:
            text = log_path.read_text()
            finished = finished_outputs(text)
            running = {out for _, outs in job_outputs(text).values() for out in outs} - set(finished)
            if sum(rule == "fisher" for rule in finished.values()) >= n_pairs and running:
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
        forget(proc)
    for _ in range(100):  # job processes of the group die with it
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"processes of group {pgid} survived SIGKILL")
    return log_path.read_text()


def stamp(path: Path) -> tuple[int, int]:
    """Modification time and inode: an atomic rewrite (new file renamed over it) changes both."""
    st = path.stat()
    return st.st_mtime_ns, st.st_ino


def killed_and_resumed(workdir: Path) -> tuple[Path, str, str, dict]:
    """The tiny config to FTD, one job at a time, killed after some pairs and resumed with two jobs at a time:
    (working directory, log of the killed run, log of the resumed run, stamps of the finished outputs before
    resuming)."""
    write_config(workdir, tiny_config())
    killed_log = kill_after_finished_pairs(workdir, KILL_AFTER_PAIRS, workdir.parent / "killed.log")
    stamps = {p: stamp(workdir / p) for p in finished_outputs(killed_log)}
    # What a user does after a crash: remove the stale lock, then resume, redoing incomplete jobs.
    snakemake(workdir, "--unlock")
    rerun = snakemake(workdir, "--cores", "2", "--rerun-incomplete", FTD)
    return workdir, killed_log, rerun.stdout + rerun.stderr, stamps


# -- the run through SLURM (tests/test_slurm.py)

# Test-only overrides of profiles/slurm: poll a quiet one-node cluster often, keep SLURM's logs to inspect,
# and train with one thread as the local reference run does (float reductions depend on the thread count).
# These --set-threads/--set-resources replace the profile's whole set-threads/set-resources; the profile's
# executor, status command and group-components (the bundling under test) stay.
SLURM_OVERRIDES = (
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
    "--slurm-keep-successful-logs",
    "--set-threads", "train_task=1",
    "--set-resources", "train_task:cpus_per_task=1", "train_task:mem_mb=2000",
)  # fmt: skip
SLURM_RECOMPUTES = ("results/models", "results/fisher", "results/distances", "results/floors")  # through SLURM


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


def run_through_slurm(workdir: Path) -> tuple[Path, str]:
    """The tiny config to FTD: its dataset and task tables locally, then the rest (training, every pair, the FTD
    matrix: :data:`SLURM_RECOMPUTES`) through profiles/slurm. Returns (working directory, Snakemake's log of the
    SLURM run)."""
    from taskdist.specs import RESAMPLE_SUFFIX

    cfg = tiny_config()
    write_config(workdir, cfg)
    tasks = [t["id"] + suffix for t in cfg["tasks"] for suffix in ("", RESAMPLE_SUFFIX)]
    snakemake(workdir, "--cores", "2", *(f"results/tasks/{t}.parquet" for t in tasks))
    # The target first: --set-resources takes every argument up to the next option.
    proc = snakemake(workdir, FTD, "--profile", str(REPO / "profiles" / "slurm"), *SLURM_OVERRIDES, timeout=1200)
    return workdir, proc.stdout + proc.stderr


def artifacts(workdir: Path) -> set[str]:
    """Every file under ``results/`` and ``resources/`` of a run, relative to its working directory."""
    files = [p for top in ("results", "resources") for p in (workdir / top).rglob("*") if p.is_file()]
    return {str(p.relative_to(workdir)) for p in files}


def differing_parquet(a: Path, b: Path) -> list[str]:
    """Parquet artifacts whose bytes differ between run directories ``a`` and ``b`` (or that only one has)."""
    paths = sorted(p for p in artifacts(a) | artifacts(b) if p.endswith(".parquet"))
    return [p for p in paths if not ((a / p).is_file() and (b / p).is_file() and filecmp.cmp(a / p, b / p, False))]


# a job as the log shows it starting; indented inside group jobs
_JOB_BLOCK = re.compile(r"^( *)(?:local)?(?:rule|checkpoint) (\w+):\n((?:\1    .*\n)+)", flags=re.M)


def job_outputs(log_text: str) -> dict[str, tuple[str, list[str]]]:
    """Jobs a Snakemake log shows starting (alone or in a group job): jobid -> (rule, output files)."""
    jobs = {}
    for _, rule, body in _JOB_BLOCK.findall(log_text):
        fields = dict(re.findall(r"^ +(\w+): (.*)$", body, flags=re.M))
        if "jobid" in fields:
            outputs = [p.strip() for p in fields.get("output", "").split(",") if p.strip()]
            jobs[fields["jobid"]] = (rule, outputs)
    return jobs


def finished_outputs(log_text: str) -> dict[str, str]:
    """Outputs of the jobs a Snakemake log reports finished (Snakemake logs this after recording them
    as complete): output path -> rule."""
    jobs = job_outputs(log_text)
    finished = re.findall(r"^Finished jobid: (\S+) \(Rule: (\w+)\)$", log_text, flags=re.M)
    return {out: rule for jobid, rule in finished if jobid in jobs for out in jobs[jobid][1]}


def differing_checkpoints(a: Path, b: Path) -> list[str]:
    """Checkpoints (``.pt``) whose tensors or metadata differ between run directories ``a`` and ``b``.

    Compared by content: torch's zip records carry the (random) temporary name of the atomic write.
    """
    import torch

    from taskdist.artifacts import checkpoint

    differ = []
    for p in sorted(p for p in artifacts(a) | artifacts(b) if p.endswith(".pt")):
        if not ((a / p).is_file() and (b / p).is_file()):
            differ.append(p)
            continue
        x, y = checkpoint.read(a / p), checkpoint.read(b / p)
        sx, sy = x.pop("state_dict", {}), y.pop("state_dict", {})
        same_meta = x == y
        if not (same_meta and sx.keys() == sy.keys() and all(torch.equal(sx[k], sy[k]) for k in sx)):
            differ.append(p)
    return differ


# -- the report in a browser (tests/test_workflow.py: the report's first page)

# Headless Chromium that neither phones home nor keeps state: a fresh profile per call.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_page(page: Path, out: Path, *, width: int = 1280, height: int = 3000) -> tuple[str, Path]:
    """Open the local HTML file ``page`` in headless Chromium, let its scripts run (10 s of virtual time), and
    return the DOM they leave and a screenshot of the window (``out``/screenshot.png). A Snakemake report is a
    single-page app: its text exists only in the DOM, not in the file."""
    browser = chromium()
    assert browser, "no chromium on PATH"
    out.mkdir(parents=True, exist_ok=True)
    url = page.resolve().as_uri()
    common = [browser, *CHROMIUM_FLAGS, "--virtual-time-budget=10000", f"--window-size={width},{height}"]
    dom = subprocess.run([*common, f"--user-data-dir={out / 'profile-dom'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=300)
    assert dom.returncode == 0 and dom.stdout.strip(), f"chromium --dump-dom failed:\n{dom.stderr}"
    shot = out / "screenshot.png"
    proc = subprocess.run([*common, f"--user-data-dir={out / 'profile-shot'}", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and shot.is_file(), f"chromium --screenshot failed:\n{proc.stderr}"
    return dom.stdout, shot


def texts_by_id(dom: str) -> dict[str, str]:
    """The text of every element of a rendered DOM that has an ``id`` (text inside scripts is not markup)."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.open: list[tuple[str, str | None]] = []  # (tag, id) of the elements open around the text
            self.found: dict[str, list[str]] = {}

        def handle_starttag(self, tag, attrs):
            if tag in ("br", "img", "meta", "link", "input", "hr", "col", "source", "wbr", "area", "base"):
                return
            ident = dict(attrs).get("id")
            self.open.append((tag, ident))
            if ident is not None:
                self.found.setdefault(ident, [])

        def handle_endtag(self, tag):
            for k in range(len(self.open) - 1, -1, -1):
                if self.open[k][0] == tag:
                    del self.open[k:]
                    break

        def handle_data(self, data):
            for _, ident in self.open:
                if ident is not None:
                    self.found[ident].append(data)

    parser = Parser()
    parser.feed(dom)
    return {k: " ".join("".join(v).split()) for k, v in parser.found.items()}
