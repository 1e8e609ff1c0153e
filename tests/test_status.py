"""``taskdist status``: jobs done, running, failed and pending per stage, read from a results and logs tree."""

from pathlib import Path

import pytest

from taskdist import cli
from taskdist.runtime import RESOURCES

TINY = Path(__file__).parent / "workflow" / "tiny.yaml"  # 3 tasks, no consistency variants

BEGUN = "2024-01-01 00:00:00 INFO taskdist: device cpu, 1 threads\nfisher: 128/500 samples, 41.2 samples/s\n"
ENDINGS = {
    "done": f"2024-01-01 00:01:00 INFO taskdist.job: {RESOURCES} cpu_s=1.00 wall_s=2.00 max_rss_mb=300\n",
    "failed": "2024-01-01 00:01:00 ERROR taskdist.job: job failed: ValueError: bad\nTraceback ...\n",
    "running": "",
}


def write_logs(logs: Path, jobs: dict[str, str]) -> None:
    for name, state in jobs.items():
        path = logs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BEGUN + ENDINGS[state])


def fake_run(tmp_path: Path) -> tuple[Path, Path]:
    results, logs = tmp_path / "results", tmp_path / "logs"
    (results / "tasks").mkdir(parents=True)
    for task in ("a", "b", "c", "a@resample", "b@resample", "c@resample"):
        (results / "tasks" / f"{task}.parquet").write_bytes(b"")
    jobs = {f"fisher/{n}/{d}.log": "done" for n, d in (("a", "a"), ("a", "b"), ("b", "a"), ("b", "b"), ("c", "a"))}
    jobs |= {"fisher/c/c.log": "running", "fisher/a/c.log": "running", "fisher/a/a@resample.log": "failed"}
    jobs |= {f"transfer/{s}/{t}.log": "done" for s in "abc" for t in "abc" if s != t}
    jobs |= {"paths/coupled/a/b.log": "done", "paths/coupled/b/a.log": "done", "paths/uncoupled/a/b.log": "running"}
    jobs |= {f"train_task/{t}.log": "done" for t in ("a", "b", "c", "a@resample")}
    jobs |= {"ftd_matrix/ftd.log": "running", "mantel.log": "done"}
    write_logs(logs, jobs)
    return results, logs


def rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0].split() == ["stage", "done", "running", "failed", "pending"]
    table = {}
    for line in lines[1:]:
        if not line.strip():
            break
        stage, *counts = line.split()
        table[stage] = counts
    return table


EXPECTED = {
    "fisher": ["5", "2", "1", "4"],  # 3 tasks: 6 pairs + 3 own + 3 floors = 12 jobs
    "ftd_matrix": ["0", "1", "0", "-"],
    "mantel": ["1", "0", "0", "-"],
    "paths": ["2", "1", "0", "15"],  # two path methods begun: 2 x (6 pairs + 3 floors)
    "train_task": ["4", "0", "0", "-"],
    "transfer": ["6", "0", "0", "0"],
}


def test_status_counts_each_stage_from_the_logs_and_plans_the_pending_from_the_task_tables(tmp_path):
    results, logs = fake_run(tmp_path)
    text = cli.status(results, logs)
    assert rows(text) == EXPECTED
    assert "3 tasks, from" in text


def test_status_takes_the_number_of_tasks_from_the_config_and_runs_from_the_command_line(tmp_path, capsys):
    results, logs = fake_run(tmp_path)
    for table in (results / "tasks").iterdir():  # before make_task: the config alone knows the tasks
        table.unlink()
    assert all(c[3] == "-" for c in rows(cli.status(results, logs)).values())
    assert cli.main(["status", "--results", str(results), "--logs", str(logs), "--config", str(TINY)]) == 0
    assert rows(capsys.readouterr().out) == EXPECTED


def test_status_without_logs_says_so(tmp_path, capsys):
    assert cli.status(tmp_path, tmp_path) == f"no job logs in {tmp_path}"
    assert cli.main(["status", "--logs", str(tmp_path / "missing")]) == 1
    assert "no logs folder" in capsys.readouterr().err


@pytest.mark.parametrize("state", ["done", "failed", "running"])
def test_a_single_job_stage_is_named_after_its_log_file(tmp_path, state):
    write_logs(tmp_path, {"selection.log": state})
    counts = dict(zip(["done", "running", "failed"], rows(cli.status(tmp_path, tmp_path))["selection"], strict=False))
    assert counts == {s: "1" if s == state else "0" for s in ("done", "running", "failed")}
