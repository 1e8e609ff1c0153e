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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskdist.runtime import read_resources

# rule (first path component under logs/, or the log's name) -> the row it is charged to
ROWS = {
    "prepare_dataset": "data and tasks",
    "make_task": "data and tasks",
    "train_task": "task networks (incl. resamples for tanas' floor)",
    "train_variant": "ftd consistency (extra networks)",
    "fisher": "ftd",
    "ftd_matrix": "ftd",
    "ftd_consistency": "ftd consistency (extra networks)",
    "train_probe": "task2vec (+ task2vec_asym)",
    "task2vec_embed": "task2vec (+ task2vec_asym)",
    "task2vec_trivial": "task2vec (+ task2vec_asym)",
    "task2vec_matrix": "task2vec (+ task2vec_asym)",
    "tanas": "tanas",
    "tanas_matrix": "tanas",
    "scores": "leep, logme, nce, h_score (together)",
    "score_matrix": "leep, logme, nce, h_score (together)",
    "transfer": "ground truth (transfer + scratch)",
    "scratch": "ground truth (transfer + scratch)",
    "transfer_matrix": "ground truth (transfer + scratch)",
    "mantel": "evaluation (mantel, selection, floors)",
    "selection": "evaluation (mantel, selection, floors)",
    "noise_floors": "evaluation (mantel, selection, floors)",
    "plot_method": "plots",
    "plot_transfer": "plots",
    "plot_paths": "plots",
    "bound": "transfer_bound",
    "bound_matrix": "transfer_bound",
    "nas_base": "architecture search",
    "nas_bases": "architecture search",
    "nas_target": "architecture search",
    "nas_summary": "architecture search",
}


def costs(log_dir: Path) -> pd.DataFrame:
    """One row per cost group: jobs, wall seconds and CPU seconds summed over the finished jobs' logs."""
    rows = []
    for path in sorted(log_dir.rglob("*.log")):
        used = read_resources(path)
        if used is None:  # a job that failed or is still running
            continue
        parts = path.relative_to(log_dir).parts
        rule = parts[0].removesuffix(".log")
        if rule in ("paths", "path_matrix"):  # logs/paths/{method}/..., logs/path_matrix/{method}.log: per method
            group = parts[1].removesuffix(".log")
        else:
            group = ROWS.get(rule, f"other ({rule})")
        rows.append({"group": group, "wall_s": used["wall_s"], "cpu_s": used["cpu_s"]})
    if not rows:
        raise SystemExit(f"no finished job logs under {log_dir}: run the workflow first")
    table = pd.DataFrame(rows).groupby("group").agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"),
                                                    cpu_s=("cpu_s", "sum"))
    return table.sort_values("cpu_s", ascending=False)


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
