"""Helpers for tests that run the Snakemake workflow on a tiny config in a temporary directory."""

from __future__ import annotations

import copy
import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

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


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as working directory (its config.yaml).

    ``env``: variables set for the run on top of this process's environment; a ``PYTHONPATH`` among them
    decides which ``taskdist`` package the Snakefile imports (e.g. a copy with a stage's version raised).
    """
    launch = ["-P", "-c", _PREIMPORT] if env and "PYTHONPATH" in env else ["-m", "snakemake"]
    cmd = [sys.executable, *launch, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env} if env else None
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_outputs(workdir: Path, env: dict[str, str] | None = None) -> set[str]:
    """The output files a dry run would (re)compute; empty when everything is up to date."""
    proc = snakemake(workdir, "-n", "--cores", "1", env=env)
    text = proc.stdout + proc.stderr
    outputs: set[str] = set()
    for block in re.findall(r"^\s*output: (.+)$", text, flags=re.M):
        outputs.update(p.strip() for p in block.split(","))
    return outputs


# -- runs compared with each other (tests/test_restart.py, tests/test_slurm.py) --------------------------------

FTD = "results/distances/ftd.parquet"  # target of the compared runs: data, training, all pairs, the FTD matrix

_references: dict[tuple[str, ...], Path] = {}


def reference_run(tmp_path_factory, *targets: str) -> Path:
    """One uninterrupted local run of the tiny config (to ``targets``) per test session, shared by the tests
    that compare their own run of the same config with it."""
    if targets not in _references:
        workdir = tmp_path_factory.mktemp("reference")
        write_config(workdir, tiny_config())
        snakemake(workdir, "--cores", "2", *targets)
        _references[targets] = workdir
    return _references[targets]


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

    from taskdist import io

    differ = []
    for p in sorted(p for p in artifacts(a) | artifacts(b) if p.endswith(".pt")):
        if not ((a / p).is_file() and (b / p).is_file()):
            differ.append(p)
            continue
        x, y = io.load_checkpoint(a / p), io.load_checkpoint(b / p)
        sx, sy = x.pop("state_dict", {}), y.pop("state_dict", {})
        same_meta = x == y
        if not (same_meta and sx.keys() == sy.keys() and all(torch.equal(sx[k], sy[k]) for k in sx)):
            differ.append(p)
    return differ
