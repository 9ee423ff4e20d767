"""`ems eval --rate`: the posting schedule, the request bodies, and each true group's decision delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ems.cli import main
from ems.eval_delays import Sightings, due, group_delays, summary
from ems.eval_paced import chunks

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_steady_rate_makes_alerts_due_one_every_60_over_rate_seconds() -> None:
    assert due(-0.1, 1000, 50) == 0
    assert due(0.0, 1000, 50) == 1  # the first goes at once
    assert due(0.059, 1000, 50) == 1 and due(0.061, 1000, 50) == 2
    assert due(1.0, 1000, 50) == 17  # 16.7 a second
    assert due(2.0, 60, 50) == 3
    assert due(600.0, 1000, 50) == 50  # never more than there are


def test_bodies_stay_within_the_count_and_byte_limits_and_keep_the_order() -> None:
    raws = [orjson.dumps({"n": i, "pad": "x" * 20}) for i in range(2500)]
    bodies = list(chunks(raws, 10_000))
    assert all(len(b) <= 10_000 for b in bodies)
    assert [item["n"] for b in bodies for item in orjson.loads(b)] == list(range(2500))
    assert len(list(chunks(raws, 10**9))) == 3  # 1000 a request at most


def test_each_group_is_timed_on_its_last_episode_from_its_post_to_its_first_sighting() -> None:
    truth = {
        ("a1", "Down", at(0)): "f1",
        ("a2", "Down", at(30)): "f1",  # f1's last episode
        ("a3", "Cpu", at(10)): "f2",
        ("a4", "Disk", at(20)): "n1",
    }
    kinds = {"f1": "device_down", "f2": "db_cpu", "n1": "noise"}
    posted = {key: 100.0 + key[2].timestamp() - T0.timestamp() for key in truth}  # posted in order
    seen = Sightings()
    seen.saw("i1", [("a1", "Down", at(0))], 101.0)
    seen.saw("i9", [("a2", "Down", at(30)), ("a3", "Cpu", at(10))], 131.5)  # first placed alone...
    seen.saw("i1", [("a1", "Down", at(0)), ("a2", "Down", at(30))], 133.0)  # ...then moved to i1
    seen.saw("i1", [("a2", "Down", at(30))], 140.0)  # a later look changes nothing
    members = [
        ("i1", "a1", "Down", at(0), at(0)),
        ("i1", "a2", "Down", at(30), at(30)),
        ("i9", "a3", "Cpu", at(10), at(10)),
        ("i7", "a4", "Disk", at(20), at(20)),  # in the final read, never seen by the poller
        ("i7", "x", "Other", at(25), at(25)),  # opened by no alert of the ground truth
    ]
    got = {g.label: g for g in group_delays(members, truth, kinds, posted, seen)}
    assert set(got) == {"f1", "f2", "n1"}
    assert got["f1"].posted == 130.0 and got["f1"].kind == "device_down"
    assert got["f1"].placed_s == pytest.approx(1.5) and got["f1"].final_s == pytest.approx(3.0)
    assert got["f2"].placed_s == pytest.approx(21.5) and got["f2"].final_s == pytest.approx(21.5)
    assert got["n1"].placed_s is None and got["n1"].final_s is None


def test_the_summary_counts_the_delays_over_the_target_and_those_never_seen() -> None:
    delays = [0.5, 1.0, 1.5, 2.0, 6.0, None]
    got = summary(delays, 5.0)
    assert got["groups"] == 6 and got["unseen"] == 1
    assert got["p50_s"] == 1.5 and got["max_s"] == 6.0 and got["p95_s"] == 6.0
    assert got["over_target"] == 2  # 6.0 s, and the one never seen
    assert summary([None], 5.0) == {"groups": 1, "unseen": 1, "target_s": 5.0, "over_target": 1}
    twenty = summary([float(i) for i in range(1, 21)], 5.0)
    assert twenty["p95_s"] == 20.0 and twenty["p50_s"] == 10.5 and twenty["over_target"] == 15


@pytest.mark.parametrize("option", ["--rate", "--tick", "--poll", "--target"])
def test_a_rate_tick_poll_or_target_that_is_not_above_zero_is_refused_naming_it(option, capsys) -> None:
    for bad in ("0", "-5", "fast"):
        with pytest.raises(SystemExit) as exc:
            main(["eval", option, bad, "--api-key", "k"])
        assert exc.value.code == 2
        assert option in capsys.readouterr().err
