"""Helpers for tests that run the Snakemake workflow on a tiny config in a temporary directory."""

from __future__ import annotations

import copy
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


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as working directory (its config.yaml)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_outputs(workdir: Path) -> set[str]:
    """The output files a dry run would (re)compute; empty when everything is up to date."""
    proc = snakemake(workdir, "-n", "--cores", "1")
    text = proc.stdout + proc.stderr
    outputs: set[str] = set()
    for block in re.findall(r"^\s*output: (.+)$", text, flags=re.M):
        outputs.update(p.strip() for p in block.split(","))
    return outputs
