"""The within-target noise-floor ratio (taskdist.evaluation.floors) on small hand-made matrices: equal to a hand
computation for a distance and a score, ≈ 1 for pure noise, large for structure, NaN for a target with one source."""

import math

import numpy as np
import pandas as pd
import pytest

from taskdist.evaluation import floors


def long(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "target": t, "value": v} for (s, t), v in values.items()])


# d(source -> target); the diagonal of c is 0.25 (as the asymmetric Task2Vec shifts a source's row)
DISTANCE = long({("a", "a"): 0.0, ("b", "b"): 0.0, ("c", "c"): 0.25,
                 ("b", "a"): 1.0, ("c", "a"): 3.0,
                 ("a", "b"): 2.0, ("c", "b"): 2.0,
                 ("a", "c"): 4.0, ("b", "c"): 1.0})
DISTANCE_FLOORS = {"a": 0.5, "b": 0.1, "c": 1.25}  # d(b -> b')


def test_distance_within_target_ratio_by_hand():
    per_target = floors.distance_targets(DISTANCE, DISTANCE_FLOORS)
    assert per_target["target"].tolist() == ["a", "b", "c"]
    assert per_target["sources"].tolist() == [2, 2, 2]
    # spread: std (ddof=1) over the sources x != b of d(x -> b); floor: d(b -> b') - d(b -> b)
    spread = [math.sqrt(2), 0.0, 3 / math.sqrt(2)]
    floor = [0.5, 0.1, 1.0]
    assert per_target["spread"].tolist() == pytest.approx(spread)
    assert per_target["floor"].tolist() == pytest.approx(floor)
    assert per_target["ratio"].tolist() == pytest.approx([s / f for s, f in zip(spread, floor, strict=True)])
    row = floors.distance_floor(DISTANCE, DISTANCE_FLOORS)
    # the median of the per-target ratios [2.83, 0, 2.12], not the ratio of the medians (1.41 / 0.5 = 2.83)
    assert row["within_ratio"] == pytest.approx(3 / math.sqrt(2))
    assert row["within_spread"] == pytest.approx(math.sqrt(2))
    assert row["within_floor"] == pytest.approx(0.5)
    # the between-task ratio stays: median of d(a -> b) - d(a -> a) over the 6 pairs over median floor
    between = float(np.median([1.0, 2.75, 2.0, 1.75, 4.0, 1.0]))
    assert row["between"] == pytest.approx(between)
    assert row["floor"] == pytest.approx(0.5)
    assert row["ratio"] == pytest.approx(between / 0.5)
    assert row["tasks"] == 3


SCORE = long({("b", "a"): 1.0, ("c", "a"): 2.0,
              ("a", "b"): 0.0, ("c", "b"): 4.0,
              ("a", "c"): 3.0, ("b", "c"): 3.0})
SCORE_RESAMPLED = long({("b", "a"): 1.1, ("c", "a"): 1.7,   # s(x -> b') under b's name
                        ("a", "b"): 0.5, ("c", "b"): 4.5,
                        ("a", "c"): 3.2, ("b", "c"): 2.9})


def test_score_within_target_ratio_by_hand():
    per_target = floors.score_targets(SCORE, SCORE_RESAMPLED)
    # spread: std over the sources of s(x -> b); floor: median over sources of |s(x -> b') - s(x -> b)|
    spread = [1 / math.sqrt(2), 2 * math.sqrt(2), 0.0]
    floor = [0.2, 0.5, 0.15]
    assert per_target["spread"].tolist() == pytest.approx(spread)
    assert per_target["floor"].tolist() == pytest.approx(floor)
    assert per_target["ratio"].tolist() == pytest.approx([s / f for s, f in zip(spread, floor, strict=True)])
    row = floors.score_floor(SCORE, SCORE_RESAMPLED)
    assert row["within_ratio"] == pytest.approx(1 / math.sqrt(2) / 0.2)  # median of [3.54, 5.66, 0]
    assert row["within_spread"] == pytest.approx(1 / math.sqrt(2))
    assert row["within_floor"] == pytest.approx(0.2)
    assert math.isnan(row["floor"]) and math.isnan(row["between"]) and math.isnan(row["ratio"])  # distances only
    assert row["tasks"] == 3


def test_the_within_ratio_of_a_score_is_that_of_its_negation():
    """Orientation (a score is ranked as a distance, its negation) leaves spread and floor unchanged."""
    negated = floors.score_targets(SCORE.assign(value=-SCORE["value"]),
                                   SCORE_RESAMPLED.assign(value=-SCORE_RESAMPLED["value"]))
    pd.testing.assert_frame_equal(floors.score_targets(SCORE, SCORE_RESAMPLED), negated)


TASKS = [f"t{i}" for i in range(40)]


def _distance(rng, signal: float, noise: float) -> tuple[pd.DataFrame, dict[str, float]]:
    """``d(x -> b) = 1 + signal * |p_x - p_b| + noise * e``, the floor ``d(b -> b') - d(b -> b) = noise``."""
    position = dict(zip(TASKS, rng.random(len(TASKS)), strict=True))
    values = {(x, b): 0.0 if x == b else 1 + signal * abs(position[x] - position[b]) + noise * rng.standard_normal()
              for x in TASKS for b in TASKS}
    return long(values), {b: noise for b in TASKS}


def test_a_distance_of_pure_noise_has_a_within_ratio_near_one_whatever_its_between_ratio():
    rng = np.random.default_rng(0)
    row = floors.distance_floor(*_distance(rng, signal=0.0, noise=0.05))
    assert row["within_ratio"] == pytest.approx(1.0, abs=0.15)
    assert row["ratio"] > 15  # the between-task ratio reads the constant offset as signal
    structured = floors.distance_floor(*_distance(rng, signal=1.0, noise=0.01))
    assert structured["within_ratio"] > 15


def _score(rng, quality: float, noise: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``s(x -> b) = quality * q_x + noise * e``, its resample with an independent ``e``."""
    q = dict(zip(TASKS, rng.standard_normal(len(TASKS)), strict=True))
    pairs = [(x, b) for x in TASKS for b in TASKS if x != b]
    return (long({(x, b): quality * q[x] + noise * rng.standard_normal() for x, b in pairs}),
            long({(x, b): quality * q[x] + noise * rng.standard_normal() for x, b in pairs}))


def test_a_score_of_pure_noise_has_a_within_ratio_near_one_and_one_with_structure_a_large_one():
    rng = np.random.default_rng(1)
    # spread ≈ noise; move |e' - e| has median 0.954 * noise (a half-normal of scale sqrt(2) * noise)
    assert floors.score_floor(*_score(rng, quality=0.0, noise=1.0))["within_ratio"] == pytest.approx(1.05, abs=0.15)
    assert floors.score_floor(*_score(rng, quality=1.0, noise=0.01))["within_ratio"] > 50


def test_a_target_with_one_source_has_no_ratio_and_is_left_out_of_the_median():
    resampled = SCORE_RESAMPLED[~((SCORE_RESAMPLED["source"] == "c") & (SCORE_RESAMPLED["target"] == "a"))]
    per_target = floors.score_targets(SCORE, resampled)
    assert per_target["sources"].tolist() == [1, 2, 2]
    assert math.isnan(per_target["spread"][0]) and math.isnan(per_target["ratio"][0])
    assert per_target["floor"][0] == pytest.approx(0.1)
    row = floors.score_floor(SCORE, resampled)
    assert row["within_ratio"] == pytest.approx(2 * math.sqrt(2) / 0.5 / 2)  # median of [5.66, 0]

    # two tasks: every target has one source, so no within-target ratio at all
    two = long({("a", "a"): 0.0, ("b", "b"): 0.0, ("a", "b"): 1.0, ("b", "a"): 2.0})
    row = floors.distance_floor(two, {"a": 0.1, "b": 0.2})
    assert math.isnan(row["within_ratio"]) and math.isnan(row["within_spread"])
    assert row["within_floor"] == pytest.approx(0.15)
    assert row["ratio"] == pytest.approx(1.5 / 0.15)


def test_a_floor_of_zero_gives_an_infinite_ratio_unless_the_spread_is_zero_too():
    values = long({("a", "a"): 0.0, ("b", "b"): 0.0, ("c", "c"): 0.0, ("b", "a"): 1.0, ("c", "a"): 2.0,
                   ("a", "b"): 1.0, ("c", "b"): 1.0, ("a", "c"): 1.0, ("b", "c"): 3.0})
    ratios = floors.distance_targets(values, {"a": 0.0, "b": 0.0, "c": 0.5})["ratio"].tolist()
    assert ratios[0] == math.inf and math.isnan(ratios[1]) and ratios[2] == pytest.approx(math.sqrt(2) / 0.5)


def test_a_distance_needs_every_diagonal_entry_and_some_floors():
    with pytest.raises(ValueError, match=r"no diagonal entry for \['c'\]"):
        floors.distance_floor(DISTANCE[DISTANCE["source"] != "c"], DISTANCE_FLOORS)
    with pytest.raises(ValueError, match="no per-task floors"):
        floors.distance_targets(DISTANCE, {})
    with pytest.raises(ValueError, match="no pair has both"):
        floors.score_targets(SCORE, SCORE_RESAMPLED.iloc[:0])


def test_the_between_task_ratio_of_a_distance_ignores_a_shift_of_a_sources_row():
    """The between-task floor and spread are measured from each source's own value d(a -> a)."""
    matrix = pd.DataFrame({"source": ["a", "a", "b", "b"], "target": ["a", "b", "a", "b"],
                           "value": [0.0, 0.4, 0.6, 0.0]})
    distance = floors.distance_floor(matrix, {"a": 0.1, "b": 0.3})
    assert {k: distance[k] for k in ("floor", "between", "ratio", "tasks")} == {
        "floor": pytest.approx(0.2), "between": pytest.approx(0.5), "ratio": pytest.approx(2.5), "tasks": 2}
    shifted = matrix.assign(value=matrix["value"] - np.where(matrix["source"] == "a", 0.2, 0.1))  # a row shift
    again = floors.distance_floor(shifted, {"a": 0.1 - 0.2, "b": 0.3 - 0.1})
    assert {k: again[k] for k in ("floor", "between", "ratio")} == {
        k: pytest.approx(distance[k]) for k in ("floor", "between", "ratio")}
