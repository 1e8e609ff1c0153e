"""What preparing an image-folder dataset costs when the tasks use 5 of its classes, against reading all of them.

Generates an image folder of ``--classes`` classes of ``--images`` 32x32 RGB
images each (PNG and JPEG alternately) in a temporary directory, then prepares
the dataset with the code of rule ``prepare_dataset`` (``taskdist.data.datasets.load`` with the
used classes, then ``artifacts.dataset.write``; the rule runs it once per class, here the classes
of a case are read in one process), each case in a fresh Python process:

- ``imports only``: the process's floor (numpy, torch, Pillow, taskdist imported; nothing read);
- ``5 classes``: the classes a small experiment's tasks use;
- ``all classes``: every class, what the dataset stage did before it read only the used ones.

The cases are interleaved ``--repeat`` times (a busy moment hits every case
alike); the table gives the median wall time of the load + save and the
median peak resident memory of the process (``ru_maxrss``), with the 1-minute
load average before and after.

    python benchmarks/prepare_folder.py                     # 100 classes x 100 images, 3 repeats

Target: with 5 of 100 classes used, the dataset is prepared in about 5 % of the time of reading all, and its
peak memory above the imports' floor is about 5 % too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
import PIL.Image, torch  # the imports a prepare_dataset job pays, whatever it reads
from taskdist.artifacts import dataset
from taskdist.data import datasets
from taskdist.specs import ImageSpec

root, classes, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
if classes is not None:
    ds = datasets.load("bench", ImageSpec(32, 3), folder=root, classes=classes, seed=0)
    dataset.write(ds, out, dataset="bench")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_folder(root: Path, n_classes: int, n_images: int, seed: int = 0) -> None:
    """``root/c000/img000.png`` ...: a seeded noise pattern per class plus per-image noise, 32x32 RGB."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(n_classes):
        folder = root / f"c{c:03d}"
        folder.mkdir(parents=True)
        template = np.kron(rng.uniform(0, 255, size=(4, 4, 3)), np.ones((8, 8, 1)))  # (32, 32, 3)
        for k in range(n_images):
            image = np.clip(template + rng.normal(0, 30, size=template.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image, "RGB").save(folder / f"img{k:03d}.{'png' if k % 2 == 0 else 'jpg'}")


def run_case(root: Path, classes: list[int] | None, out: Path) -> dict:
    """One case in a fresh interpreter: its wall seconds of load + save and its peak RSS (kB)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", CHILD, str(root), json.dumps(classes), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100, help="classes in the generated folder")
    parser.add_argument("--images", type=int, default=100, help="images per class")
    parser.add_argument("--used", type=int, default=5, help="classes the tasks use")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per case; medians are reported")
    args = parser.parse_args(argv)
    if not 0 < args.used <= args.classes:
        raise ValueError(f"--used must be in 1..{args.classes}, got {args.used}")
    with tempfile.TemporaryDirectory(prefix="prepare_folder_") as tmp:
        root = Path(tmp) / "images"
        start = time.perf_counter()
        make_folder(root, args.classes, args.images)
        print(
            f"folder: {args.classes} classes x {args.images} images, 32x32 RGB "
            f"(made in {time.perf_counter() - start:.1f} s)"
        )
        # the used classes spread over the folder, as a task's would be
        used = np.linspace(0, args.classes - 1, args.used).round().astype(int).tolist()
        cases = {"imports only": None, f"{args.used} classes": used, "all classes": list(range(args.classes))}
        load_before = os.getloadavg()[0]
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, classes in cases.items():
                runs[name].append(run_case(root, classes, Path(tmp) / "out.npz"))
        load_after = os.getloadavg()[0]
    seconds = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    rss = {name: statistics.median(r["maxrss_kb"] for r in rs) / 1024 for name, rs in runs.items()}
    floor = rss["imports only"]
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after; medians of {args.repeat} runs")
    print(f"{'case':>14}  {'load+save s':>11}  {'peak RSS MB':>11}  {'above imports MB':>16}")
    for name in cases:
        print(f"{name:>14}  {seconds[name]:>11.3f}  {rss[name]:>11.1f}  {rss[name] - floor:>16.1f}")
    few, every = f"{args.used} classes", "all classes"
    print(
        f"ratio {few} / all: time {seconds[few] / seconds[every]:.3f}, peak RSS {rss[few] / rss[every]:.3f}, "
        f"peak RSS above imports {(rss[few] - floor) / max(rss[every] - floor, 1e-9):.3f}"
    )


if __name__ == "__main__":
    main()
