"""The progress helper: a line at most every `every` seconds and one at the end, done / total and the rate."""

import logging

import pytest

from taskdist import progress
from taskdist.progress import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "test.progress"]


def test_a_line_at_most_every_interval_and_one_at_the_end(clock, caplog):
    caplog.set_level(logging.INFO)
    p = Progress("fisher", 500, "samples", logger=logging.getLogger("test.progress"))
    for _ in range(25):  # 20 samples every 2 s: 50 s of work
        clock.now += 2.0
        p.advance(20)
    p.end()
    got = lines(caplog)
    assert len(got) == 5 + 1  # at 10, 20, 30, 40, 50 s, then the end
    assert got[0] == "fisher: 100/500 samples, 10.0 samples/s, about 40 s left"
    assert got[3] == "fisher: 400/500 samples, 10.0 samples/s, about 10 s left"
    assert got[4] == "fisher: 500/500 samples, 10.0 samples/s"
    assert got[-1] == "fisher: 500/500 samples in 50.0 s, 10.0 samples/s"


def test_the_default_interval_is_read_when_made_and_zero_logs_every_step(clock, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    assert Progress("x", 1).every == 10.0
    monkeypatch.setattr(progress, "EVERY", 0.0)
    p = Progress("train", None, "epochs", logger=logging.getLogger("test.progress"))
    for _ in range(3):
        clock.now += 1.0
        p.advance()
    p.end()
    assert lines(caplog) == ["train: 1 epochs, 1.0 epochs/s", "train: 2 epochs, 1.0 epochs/s",
                             "train: 3 epochs, 1.0 epochs/s", "train: 3 epochs in 3.0 s, 1.0 epochs/s"]


def test_as_a_context_it_ends_only_a_loop_that_did_not_raise(clock, caplog):
    caplog.set_level(logging.INFO)
    with Progress("ok", 2, logger=logging.getLogger("test.progress")) as p:
        clock.now += 1.0
        p.advance(2)
    with pytest.raises(RuntimeError), Progress("bad", 2, logger=logging.getLogger("test.progress")):
        raise RuntimeError("boom")
    assert lines(caplog) == ["ok: 2/2 steps in 1.0 s, 2.0 steps/s"]


@pytest.mark.parametrize(("total", "every", "error"), [
    (-1, None, ValueError), (1.5, None, TypeError), (True, None, TypeError),
    (3, -1.0, ValueError), (3, float("nan"), ValueError), (3, "10", TypeError),
])
def test_bad_arguments_are_named(total, every, error):
    with pytest.raises(error, match="total|every"):
        Progress("x", total, every=every)


def test_a_quiet_loop_ends_with_a_line_only_when_it_took_longer_than_the_interval(clock, caplog):
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("test.progress")
    with Progress("features", 4, "samples", logger=logger, quiet=True) as fast:
        clock.now += 9.0
        fast.advance(4)
    assert lines(caplog) == []
    with Progress("features", 4, "samples", logger=logger, quiet=True) as slow:
        clock.now += 10.0
        slow.advance(2)
        clock.now += 10.0
        slow.advance(2)
    assert lines(caplog) == ["features: 2/4 samples, 0.2 samples/s, about 10 s left",
                             "features: 4/4 samples, 0.2 samples/s", "features: 4/4 samples in 20.0 s, 0.2 samples/s"]
