"""What each method and the ground truth cost in a finished run, from its job logs.

Every job of the workflow ends its log ``logs/{rule}/...log`` with the CPU
seconds, wall seconds and peak memory of its process, start-up included
(``taskdist.runtime.finish``). This script sums them per method, next to the
cost of the ground truth of transfer, so the README can say what a distance
costs compared with measuring transfer itself. Run it in the working directory
of a finished run:

    python benchmarks/method_costs.py            # reads ./logs
    python benchmarks/method_costs.py --dir RUN  # another run's directory

Jobs shared by several methods (training the task networks, making the tasks)
are listed on their own rows; every CPU-second of the run is in exactly one row.
The per-job table behind it is :func:`taskdist.report_tables.job_costs`, which
``taskdist tables snapshot`` stores with a run's tables (``costs.parquet``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.report_tables import grouped_costs, job_costs


def costs(log_dir: Path) -> pd.DataFrame:
    """One row per cost group: jobs, wall seconds and CPU seconds summed over the finished jobs' logs
    (groups: :data:`taskdist.report_tables.COST_GROUPS`)."""
    jobs = job_costs(log_dir)
    if jobs.empty:
        raise SystemExit(f"no finished job logs under {log_dir}: run the workflow first")
    return grouped_costs(jobs).set_index("group")[["jobs", "wall_s", "cpu_s"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("."), help="working directory of a finished run")
    args = parser.parse_args()
    table = costs(args.dir / "logs")
    total = table.sum()
    print(table.round(1).to_string())
    print(f"\n{int(total['jobs'])} jobs, {total['cpu_s']:.0f} CPU-s in job processes "
          f"(wall seconds add up over parallel jobs: {total['wall_s']:.0f})")


if __name__ == "__main__":
    main()
