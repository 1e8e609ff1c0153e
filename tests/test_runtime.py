"""The job frame every workflow script shares (taskdist.runtime): set-up, fast exit, and what a failure leaves."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskdist.runtime import read_resources, stage_version

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "workflow_scripts").glob("*.py"))


def run_job(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``body`` as a job script would run (a ``snakemake`` object with a log); return the process and its log."""
    log = tmp_path / "job.log"
    script = textwrap.dedent(f"""
        from types import SimpleNamespace
        from taskdist.runtime import finish, start
        snakemake = SimpleNamespace(log=[{str(log)!r}], threads=1, params=SimpleNamespace(device="cpu"))
    """) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    return proc, log.read_text() if log.exists() else ""


def test_finish_exits_zero_with_logs_and_output_written(tmp_path):
    out = tmp_path / "out.txt"
    proc, log = run_job(tmp_path, f"""
        import logging
        device = start(snakemake, torch=True)
        logging.getLogger("taskdist").info("trained on %s", device)
        open({str(out)!r}, "w").write("done")
        print("to stdout", end="")
        finish()
        raise SystemExit("never reached")
    """)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "done" and proc.stdout == "to stdout"
    assert "device cpu, 1 threads" in log and "trained on cpu" in log
    used = read_resources(tmp_path / "job.log")  # what the job measured of itself, interpreter start-up included
    assert used is not None and set(used) == {"cpu_s", "wall_s", "max_rss_mb"}
    assert 0 < used["cpu_s"] < 600 and used["wall_s"] > 0.1 and used["max_rss_mb"] > 50  # torch is loaded


def test_a_failing_job_exits_nonzero_and_keeps_its_traceback_in_its_log(tmp_path):
    proc, log = run_job(tmp_path, """
        start(snakemake)
        raise ValueError("bad input 'x'")
        finish()
    """)
    assert proc.returncode != 0
    assert "ValueError: bad input 'x'" in proc.stderr  # the console still shows it
    assert "job failed: ValueError: bad input 'x'" in log and "Traceback" in log  # and the job's log holds it
    assert read_resources(tmp_path / "job.log") is None  # not counted as a finished job


def test_a_job_reports_its_own_peak_memory_not_its_parents(tmp_path):
    """ru_maxrss survives fork and exec: a job started by a process that held 600 MB reported 600 MB."""
    parent = textwrap.dedent("""
        import subprocess, sys
        hold = bytearray(600 * 2**20)  # touched: resident
        child = "from taskdist.runtime import peak_rss_mb; print(peak_rss_mb())"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
    """)
    proc = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 5 < float(proc.stdout) < 200  # the child is an interpreter, far below its parent's 600 MB


STEPS = """
import resource, sys, torch
import torch.nn.functional as F
from taskdist.nets import models
from taskdist.nets.optim import Adam
from taskdist.nets.train import LAYOUT
from taskdist.specs import ArchSpec
torch.set_num_threads(1)
net = models.build(ArchSpec(widths=(16, 32), convs_per_stage=1, pool=4, hidden=64), 1, 10, seed=0)
net = net.to(memory_format=LAYOUT)
opt = Adam(net.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(0)
x, y = torch.randn(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
def step():
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(faults, float(sum(p.double().sum() for p in net.parameters())))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_a_job_reuses_freed_memory_instead_of_faulting_in_fresh_pages_each_step(tmp_path):
    """``start(torch=True)`` applies keep_freed_memory: training steps then stop page-faulting (the default
    settings fault hundreds of pages in per step of the small CNN), and the weights are the same bit for bit."""

    def steps(prelude: str) -> tuple[float, float]:
        proc = subprocess.run([sys.executable, "-c", prelude + STEPS], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        faults, digest = proc.stdout.split()
        return float(faults), float(digest)

    prelude = textwrap.dedent(f"""
        from types import SimpleNamespace
        from taskdist.runtime import start
        start(SimpleNamespace(log=[{str(tmp_path / "job.log")!r}], threads=1, params=SimpleNamespace(device="cpu")),
              torch=True)
    """)
    # None per step on a quiet machine. A loaded one adds faults to both (17 per step seen in the full suite,
    # against hundreds; once 15 against 70 at load 6), so a pair is measured up to three times: without the
    # setting, every pair fails.
    for _ in range(3):
        default, kept = steps(""), steps(prelude)
        if kept[0] < default[0] / 5:
            break
    assert default[0] > 50, f"the default settings should fault pages in every step; {default[0]} per step"
    assert kept[0] < default[0] / 5, f"{kept[0]} page faults per step with freed memory kept, {default[0]} without"
    assert kept[1] == default[1]  # where memory comes from changes, not what is computed


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_job_script_starts_and_finishes_through_the_runtime(script):
    body = ast.parse(script.read_text()).body
    calls = [n.value for n in body if isinstance(n, (ast.Expr, ast.Assign)) and isinstance(n.value, ast.Call)]
    names = [c.func.id for c in calls if isinstance(c.func, ast.Name)]
    assert names and names[0] == "start", f"{script.name}: the first call should be start(snakemake)"
    last = body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and ast.unparse(last.value) == "finish()", (
        f"{script.name}: the last statement should be finish()"
    )


def test_stage_version_names_a_module_without_one():
    with pytest.raises(ValueError, match="no integer VERSION"):
        stage_version("taskdist.runtime")
    with pytest.raises(ValueError, match="no module"):
        stage_version("taskdist.nas.nothing")


def test_stage_versions_are_read_without_importing_the_stages():
    """Planning reads every stage's version; a nested stage (taskdist.methods.tanas) must not import its package,
    whose __init__ imports torch (seconds of every dry run)."""
    code = textwrap.dedent("""
        import sys
        from taskdist.runtime import stage_version
        stages = ("taskdist.methods.tanas", "taskdist.nas.taskaware", "taskdist.methods.fisher")
        versions = [stage_version(m) for m in stages]
        assert all(isinstance(v, int) for v in versions), versions
        print(sorted(m for m in ("torch", "taskdist.nas", "taskdist.methods.fisher") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
