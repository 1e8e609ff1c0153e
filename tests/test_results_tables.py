"""The documentation's result tables are generated: README.md and docs/results.md match a render of docs/results/.

Regenerate after a run (in the run's directory, then in the checkout):

    taskdist tables snapshot results --out docs/results --logs logs --config config.yaml
    taskdist tables render docs/results --readme README.md --results docs/results.md
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskdist import cli, report_tables
from taskdist.artifacts import io

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "docs" / "results"
DOCS = [REPO / "README.md", REPO / "docs" / "results.md"]
# Other stored runs: (snapshot, block prefix, the files holding their blocks)
RUNS = [(SNAPSHOT, "", DOCS),
        (SNAPSHOT / "benchmark", "benchmark.", [REPO / "README.md", REPO / "docs" / "benchmark.md"]),
        (SNAPSHOT / "literature", "literature.", DOCS)]


@pytest.mark.parametrize(("snapshot", "prefix", "docs"), RUNS, ids=["default", "benchmark", "literature"])
def test_documentation_matches_the_snapshot(snapshot, prefix, docs):
    diffs = report_tables.render(snapshot, docs, check=True, prefix=prefix, compare=SNAPSHOT if prefix else None)
    assert not diffs, (f"{[d.name for d in docs]} differ from `taskdist tables render {snapshot.relative_to(REPO)} "
                       f"--prefix '{prefix}'` (run it to regenerate):\n" + "".join(diffs)[:4000])


def test_documentation_matches_the_stored_rerun():
    """The README's and docs/results.md's rerun-* blocks are the render of the stored comparison of two machines'
    runs (docs/results/rerun, `taskdist tables compare`)."""
    snapshot = SNAPSHOT / "rerun"
    run = report_tables.read_snapshot(snapshot).run
    assert run["kind"] == "rerun" and run["first"]["settings"] == run["second"]["settings"]
    diffs = report_tables.render(snapshot, DOCS, check=True)
    assert not diffs, ("the documentation differs from `taskdist tables render docs/results/rerun` (run it to "
                       "regenerate):\n" + "".join(diffs)[:4000])
    text = (REPO / "README.md").read_text()
    assert "<!-- generated:rerun-summary -->" in text and "<!-- generated:rerun-columns -->" in text


def test_run_differences_count_what_moved_between_two_runs(tmp_path):
    results = _tiny_results(tmp_path / "run")
    first = report_tables.read_snapshot(report_tables.snapshot(results, tmp_path / "a")[0].parent)
    same = report_tables.run_differences(first, first)
    assert len(same) and same["differ"].eq(0).all() and same["cells"].gt(0).all()
    mantel = first.tables["mantel"].copy()
    mantel.loc[1, "statistic"] += 0.25  # one number, by hand
    mantel.loc[0, "method"] = "pearson"  # one text cell
    costs = first.tables["costs"].assign(cpu_s=99.0)  # what a job cost is not compared
    second = report_tables.Snapshot(first.path, first.run, {**first.tables, "mantel": mantel, "costs": costs,
                                                            "selection": first.tables["selection"].iloc[:1]})
    diff = report_tables.run_differences(first, second).set_index(["table", "column"])
    assert diff.loc[("mantel", "statistic"), "differ"] == 1
    assert diff.loc[("mantel", "statistic"), "largest"] == pytest.approx(0.25)
    assert diff.loc[("mantel", "method"), "differ"] == 1
    assert diff.drop(index=[("mantel", "statistic"), ("mantel", "method")], errors="ignore").query(
        "cells > 0")["differ"].sum() == 0
    assert "costs" not in diff.index.get_level_values("table")
    [shape] = [c for t, c in diff.index if t == "selection"]
    assert shape.startswith("(shapes differ")
    by_table = report_tables.differences_by_table(diff.reset_index()).set_index("table")
    assert by_table.loc["mantel", "differ"] == 2 and by_table.loc["mantel", "column"] == "statistic"


def test_compare_stores_a_rerun_and_refuses_runs_of_other_settings(tmp_path):
    results = _tiny_results(tmp_path / "run")
    report_tables.snapshot(results, tmp_path / "a")
    report_tables.snapshot(results, tmp_path / "b")
    assert cli.main(["tables", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]
                    ) == 0
    blocks = report_tables.rerun_blocks(report_tables.read_snapshot(tmp_path / "cmp"))
    assert "agree bit for bit" in blocks["rerun-summary"] and blocks["rerun-columns"].empty
    overlay = tmp_path / "run" / "overlay.yaml"
    overlay.write_text("transfer: {replicates: 8}\n")
    report_tables.snapshot(results, tmp_path / "c", config=[tmp_path / "run" / "config.yaml", overlay])
    with pytest.raises(ValueError, match="not runs of one config.*transfer.replicates"):
        report_tables.compare(tmp_path / "a", tmp_path / "c", tmp_path / "cmp2")
    with pytest.raises(ValueError, match="compare takes two runs"):
        report_tables.compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "cmp3")


def test_documentation_matches_the_nas_claim_snapshot():
    """The README's nas_claim-* blocks are the render of the TA-NAS claim's stored run (docs/results/nas_claim)."""
    snapshot = SNAPSHOT / "nas_claim"
    assert report_tables.read_snapshot(snapshot).run["kind"] == "nas_claim"
    diffs = report_tables.render(snapshot, DOCS, check=True)
    assert not diffs, ("README.md differs from `taskdist tables render docs/results/nas_claim` (run it to "
                       "regenerate):\n" + "".join(diffs)[:4000])
    names = set(re.findall(r"^<!-- generated:(nas_claim-[\w.-]+) -->$", (REPO / "README.md").read_text(), re.M))
    texts, _ = report_tables.render_blocks(report_tables.read_snapshot(snapshot))
    assert {"nas_claim-answer", "nas_claim-reach", "nas_claim-paired", "nas_claim-curves"} <= names <= set(texts)


@pytest.mark.parametrize(("snapshot", "prefix", "docs"), RUNS, ids=["default", "benchmark", "literature"])
def test_every_block_in_the_documentation_is_filled_and_known(snapshot, prefix, docs):
    texts, _ = report_tables.render_blocks(report_tables.read_snapshot(snapshot))
    texts = {**texts, "shared": ""} if prefix else texts  # from the comparison with the default run
    used = set()
    for path in docs:
        used |= {n[len(prefix):] for n in re.findall(r"^<!-- generated:([\w.-]+) -->$", path.read_text(), re.M)
                 if report_tables.ours(n, prefix)}  # nas_claim-* blocks: test_documentation_matches_the_nas_claim_*
    assert used, "the documentation has no generated blocks"
    assert all(name.startswith(report_tables.OPTIONAL) for name in used - set(texts))  # the run lacks a method
    assert {"run", "headline"} <= used


def _copy(tmp_path: Path) -> tuple[Path, list[Path]]:
    shutil.copytree(SNAPSHOT, tmp_path / "docs" / "results")
    docs = []
    for path in DOCS:
        dst = tmp_path / path.relative_to(REPO)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        docs.append(dst)
    return tmp_path / "docs" / "results", docs


def test_an_edited_number_in_a_generated_block_fails_the_check(tmp_path, capsys):
    snapshot, docs = _copy(tmp_path)
    results_md = docs[1]
    text = results_md.read_text()
    block = re.search(r"<!-- generated:reliability -->\n(.*?)<!-- /generated:reliability -->", text, re.DOTALL)
    assert block is not None
    number = re.search(r"\| (\d+\.\d+) \|", block.group(1))
    assert number is not None
    start = block.start(1) + number.start(1)
    edited = text[:start] + "9" + text[start + 1:]
    assert edited != text
    results_md.write_text(edited)

    argv = ["tables", "render", str(snapshot), "--readme", str(docs[0]), "--results", str(results_md)]
    assert cli.main([*argv, "--check"]) == 1
    out = capsys.readouterr().out
    assert "reliability" in out or number.group(1) in out
    assert results_md.read_text() == edited  # --check writes nothing
    assert cli.main(argv) == 0
    assert results_md.read_text() == text
    assert cli.main([*argv, "--check"]) == 0


def test_format_column():
    fmt = report_tables.format_column
    assert fmt(pd.Series([0.0004, 0.0123, np.nan]), "p_value") == ["<0.001", "0.012", ""]
    assert fmt(pd.Series([1234, 5]), "jobs") == ["1,234", "5"]
    assert fmt(pd.Series([0.12345, -1.5]), "statistic") == ["0.123", "-1.500"]
    assert fmt(pd.Series([45.87, 2.0]), "ratio") == ["45.87", "2.00"]
    assert fmt(pd.Series([6.0, 12.0]), "epochs") == ["6", "12"]
    assert fmt(pd.Series([1104.4, 20.2]), "cpu_s") == ["1,104", "20"]
    assert fmt(pd.Series(["a|b", None]), "name") == ["a|b", ""]
    assert report_tables.markdown(pd.DataFrame({"m": ["a|b"], "r": [-0.5]})).splitlines()[-1] == \
        "| a\\|b | \u22120.500 |"


def test_fill_rejects_unknown_and_unclosed_blocks():
    blocks = {"a": "A"}
    assert report_tables.fill("x\n<!-- generated:a -->\nold\n<!-- /generated:a -->\ny", blocks) == \
        "x\n<!-- generated:a -->\nA\n<!-- /generated:a -->\ny"
    with pytest.raises(ValueError, match="no generated block named"):
        report_tables.fill("<!-- generated:b -->\n<!-- /generated:b -->", blocks)
    with pytest.raises(ValueError, match="not closed"):
        report_tables.fill("<!-- generated:a -->\nold\n", blocks)
    two = "<!-- generated:a -->\n<!-- /generated:a -->\n<!-- generated:b.a -->\n<!-- /generated:b.a -->"
    assert report_tables.fill(two, blocks) == \
        "<!-- generated:a -->\nA\n<!-- /generated:a -->\n<!-- generated:b.a -->\n<!-- /generated:b.a -->"
    assert report_tables.fill(two, {"a": "B"}, prefix="b.") == \
        "<!-- generated:a -->\n<!-- /generated:a -->\n<!-- generated:b.a -->\nB\n<!-- /generated:b.a -->"


def _tiny_results(root: Path) -> Path:
    results = root / "results"
    tasks = ["a", "b", "c"]
    rows = [{"source": s, "target": t, "setting": setting, "replicate": r, "accuracy": 0.5 + 0.1 * r,
             "loss": 1.0, "scratch_accuracy": 0.5, "gain": 0.1 * r + (s == "a") * 0.05}
            for setting in ("finetune", "linear") for s in tasks for t in tasks if s != t for r in range(2)]
    io.write_parquet(pd.DataFrame(rows), results / "transfer.parquet")
    mantel = [{"x": "ftd", "y": y, "setting": s, "method": "spearman", "statistic": 0.4, "p_value": 0.02,
               "permutations": 6, "n": 3, "alternative": "greater", "p_holm": 0.04}
              for s in ("finetune", "linear") for y in ("-gain", "1-accuracy")]
    io.write_parquet(pd.DataFrame(mantel), results / "mantel.parquet")
    selection = [{"setting": s, "method": m, "target": t, "chosen": "a", "best": "a", "regret": 0.01,
                  "spearman": 0.5, "weighted_tau": 0.4, "ndcg": 0.9}
                 for s in ("finetune", "linear") for m in ("ftd", "random") for t in tasks]
    io.write_parquet(pd.DataFrame(selection), results / "selection.parquet")
    io.write_parquet(pd.DataFrame([{"source": s, "target": t, "value": float(s != t)} for s in tasks for t in tasks]),
                     results / "distances" / "ftd.parquet")
    log = root / "logs" / "fisher" / "a" / "b.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-01-02 03:04:05,000 INFO taskdist: start\n"
                   "2026-01-02 03:04:09,000 INFO taskdist.job: job resources: cpu_s=1.50 wall_s=2.00 max_rss_mb=300\n")
    (root / "config.yaml").write_text("seed: 0\ntasks:\n  - {id: a}\n  - {id: b}\n  - {id: c}\n")
    return results


def test_snapshot_and_render_any_columns(tmp_path):
    results = _tiny_results(tmp_path / "run")
    out = tmp_path / "snap"
    written = report_tables.snapshot(results, out)
    assert {p.name for p in written} >= {"transfer.parquet", "mantel.parquet", "selection.parquet", "ftd.parquet",
                                        "costs.parquet", "run.json"}
    costs = io.read_parquet(out / "costs.parquet")
    assert costs.to_dict("records") == [{"rule": "fisher", "job": "a/b", "cpu_s": 1.5, "wall_s": 2.0,
                                         "max_rss_mb": 300.0}]
    assert report_tables.grouped_costs(costs)["group"].tolist() == ["ftd"]
    run = io.read_json(out / "run.json")
    assert run["started"] == "2026-01-02 03:04:05" and run["settings"]["seed"] == 0
    before = (out / "mantel.parquet").read_bytes()
    report_tables.snapshot(results, out)
    assert (out / "mantel.parquet").read_bytes() == before  # deterministic
    overlay = tmp_path / "run" / "overlay.yaml"
    overlay.write_text("transfer: {replicates: 8}\ntasks:\n  - {id: d}\n")
    report_tables.snapshot(results, tmp_path / "snap2", config=[tmp_path / "run" / "config.yaml", overlay])
    run2 = io.read_json(tmp_path / "snap2" / "run.json")  # merged as Snakemake merges --configfile A B
    assert run2["settings"] == {"seed": 0, "tasks": [{"id": "d"}], "transfer": {"replicates": 8}}
    assert run2["config_file"].endswith("config.yaml + overlay.yaml")

    md = tmp_path / "doc.md"
    md.write_text("# t\n<!-- generated:mantel -->\n<!-- /generated:mantel -->\n"
                  "<!-- generated:selection -->\n<!-- /generated:selection -->\n"
                  "<!-- generated:headline -->\n<!-- /generated:headline -->\n"
                  "<!-- generated:matrix-ftd -->\n<!-- /generated:matrix-ftd -->\n")
    assert report_tables.render(out, [md], check=True)
    report_tables.render(out, [md])
    text = md.read_text()
    assert "p_holm" in text and "ndcg" in text  # columns another stage added are rendered
    assert "best baseline `random`" in text
    assert "source \\ target" in text
    assert (out / "mantel.csv").is_file()
    assert report_tables.render(out, [md], check=True) == []


def test_the_literature_methods_summaries_from_their_pair_records(tmp_path):
    """bound_table and path_table read the pair records; the blocks state tightness, h_T against a new linear
    head, where paths end and how often coupled is at most uncoupled, over the pairs of distinct tasks only."""
    from taskdist.artifacts import records

    def bound(source, target, value, loss, test_loss, linear_loss):
        terms = {"bound": value, "target_loss": loss, "source_loss": 0.1}
        records.write({"bound": value, "setting": "LearnedAll", "terms": terms, "linear_loss": linear_loss,
                       "test": {"target_loss": test_loss, "bound": value + 1}, "trace": []},
                      tmp_path / "bound" / source / f"{target}.json", "bound", source=source, target=target)

    bound("a", "b", 4.0, 1.0, 1.2, 0.5)
    bound("b", "a", 6.0, 2.0, 0.4, 0.6)
    bound("a", "a@resample", 9.0, 1.0, 1.0, 0.1)  # a floor pair: not among the pairs of distinct tasks
    table = report_tables.bound_table(sorted((tmp_path / "bound").glob("*/*.json")))
    assert table.set_index(["source", "target"])["tightness"].to_dict() == {
        ("a", "a@resample"): 9.0, ("a", "b"): 4.0, ("b", "a"): 3.0}
    assert table["resample"].tolist() == [True, False, False]

    def path(method, source, target, distance, end):
        records.write({"distance": distance, "coupling": {}, "iterations": [{"distance": distance, "moved": 0.25}],
                       "path": {"tau": [0.0, 1.0], "length": [0.0, distance], "source_accuracy": [0.9, 0.5],
                                "target_accuracy": [0.2, end]}},
                      tmp_path / "paths" / method / source / f"{target}.json", "path", method=method, source=source,
                      target=target)

    path("coupled", "a", "b", 2.0, 0.9)
    path("uncoupled", "a", "b", 3.0, 0.8)
    path("coupled", "b", "a", 5.0, 0.7)
    path("uncoupled", "b", "a", 4.0, 1.0)
    paths = report_tables.path_table(sorted((tmp_path / "paths").glob("*/*/*.json")))
    snap = report_tables.Snapshot(tmp_path, {}, {"bound_terms": table, "path_ends": paths})
    blocks = report_tables.literature_blocks(snap)
    assert "median tightness (" in blocks["bound"][0] and " 3.50× " in blocks["bound"][0]
    assert "it holds on all pairs: yes" in blocks["bound"][0]
    assert "is the lower on 1 of 2 pairs" in blocks["bound"][1]
    assert "at most the uncoupled one on 1 of 2 ordered pairs" in blocks["paths"][-1]
    assert "| coupled | 2 | 3.500 | 0.800 | 0.700 | 0.900 | 0.250 |" in blocks["paths"][0]
