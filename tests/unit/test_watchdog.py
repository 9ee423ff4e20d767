from ems.streams.watchdog import CommitStallWatchdog, OffsetContinuity


def test_healthy_commits_never_stall() -> None:
    dog = CommitStallWatchdog(grace=10)
    for t in range(0, 100, 2):
        # the commit trails a little, then catches up every few seconds
        committed = {"p0": t * 10 + 1 if t % 6 == 0 else t * 10 - 5}
        assert dog.observe(committed, {"p0": t * 10}, now=t) == []


def test_sustained_load_with_moving_commits_never_stalls() -> None:
    dog = CommitStallWatchdog(grace=10)
    for t in range(0, 300, 5):  # the commit always trails, but it moves
        assert dog.observe({"p0": t * 100}, {"p0": t * 100 + 5000}, now=t) == []


def test_commit_stuck_behind_processing_stalls_after_grace() -> None:
    dog = CommitStallWatchdog(grace=10)
    assert dog.observe({"p0": 49, "p1": 501}, {"p0": 400, "p1": 500}, now=0) == []
    assert dog.observe({"p0": 49, "p1": 601}, {"p0": 600, "p1": 600}, now=9) == []
    assert dog.observe({"p0": 49, "p1": 701}, {"p0": 700, "p1": 700}, now=10) == ["p0"]


def test_never_committed_counts_as_behind() -> None:
    dog = CommitStallWatchdog(grace=5)
    assert dog.observe({}, {"p0": 3}, now=0) == []
    assert dog.observe({"p0": None}, {"p0": 3}, now=6) == ["p0"]


def test_catching_up_or_moving_resets_the_clock() -> None:
    dog = CommitStallWatchdog(grace=5)
    dog.observe({"p0": 10}, {"p0": 20}, now=0)
    assert dog.observe({"p0": 21}, {"p0": 20}, now=4) == []
    assert dog.observe({"p0": 21}, {"p0": 30}, now=8) == []
    assert dog.observe({"p0": 21}, {"p0": 30}, now=12) == []
    assert dog.observe({"p0": 21}, {"p0": 30}, now=13) == ["p0"]
    assert dog.observe({"p0": 25}, {"p0": 40}, now=14) == []  # moved: the clock starts again


def test_contiguous_and_redelivered_offsets_pass() -> None:
    c = OffsetContinuity()
    c.start("p0", 10)
    assert [c.check("p0", o) for o in (10, 11, 12, 11, 12, 13)] == [None] * 6
    assert c.expected == {"p0": 14}


def test_a_skipped_offset_is_reported_and_not_recorded() -> None:
    c = OffsetContinuity()
    c.start("p0", 49)
    assert c.check("p0", 107) == 49
    assert c.expected == {"p0": 49} and c.knows("p0") and not c.knows("p1")
    c.reset()
    assert not c.knows("p0")
