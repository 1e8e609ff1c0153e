"""What the README and the shipped configs tell a user to type works as they say."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = re.compile(r"^(results|resources|logs|docs)/|\.(parquet|json|pt|png|html|npz)$")


def command_lines() -> list[tuple[str, str]]:
    """Every snakemake command line of the README, the results page, the configs' comments and the CLI's messages."""
    found = []
    for path in [REPO / "README.md", REPO / "docs" / "results.md", *sorted((REPO / "configs").glob("*.yaml")),
                 *sorted((REPO / "taskdist").rglob("*.py"))]:
        for line in path.read_text().splitlines():
            for cmd in re.findall(r"snakemake [^`\"'|;)]*", line):
                found.append((path.name, cmd.strip()))
    return found


def test_targets_come_before_configfile_in_every_command_line():
    """Snakemake reads every word after --configfile as one more config file, so a target there is a config."""
    lines = command_lines()
    assert len(lines) > 10
    bad = []
    for where, cmd in lines:
        words = cmd.split()
        if "--configfile" in words:
            after = words[words.index("--configfile") + 1:]
            files = [w for w in after if not w.startswith("-")][: len(after)]
            bad += [(where, cmd) for w in files if TARGET.search(w)]
    assert bad == []


def test_the_readme_says_once_why_targets_go_first():
    text = REPO.joinpath("README.md").read_text()
    assert re.search(r"after\s+`--configfile`\s+as\s+one\s+more\s+config\s+file", text)
