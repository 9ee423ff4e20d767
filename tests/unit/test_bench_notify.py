"""The notification benchmark's pure parts at a tiny size: the timed passes decide what the notification
core decides without the harness, the silences and windows are all accepted and mute some changes, the
figures are consistent; and the latency run's plan opens every alert before changing it."""

from __future__ import annotations

from ems.bench.notify_cost import (
    alert_changes,
    decide_pass,
    step_pass,
    suppressed_notifier,
    suppression_cost,
)
from ems.bench.notify_latency import hops, posts, quantiles
from ems.noise.decide import decide
from ems.noise.matchers import alert_fields


def test_the_timed_decide_pass_decides_as_decide_alone() -> None:
    stream = alert_changes(40)
    notifier = suppressed_notifier(12, 10)
    assert (len(notifier.suppressions.silences), len(notifier.suppressions.windows)) == (12, 10)
    timed = decide_pass(notifier, stream)
    flap: dict = {}
    plain = []
    for change in stream:
        alert_id = change.alert.alert_id
        decision, flap[alert_id] = decide(
            alert_fields(change.alert),  # no asset registry here: no facts, no down device
            change.transitions[-1].at,
            notifier.rules(None),
            flap=flap.get(alert_id),
        )
        plain.append(decision)
    assert timed.results == plain
    assert len(timed.cpu) == len(timed.wall) == 40 and timed.cpu == sorted(timed.cpu)
    muted = [d for d in plain if not d.notify]
    assert muted and len(muted) < len(plain)  # the rules mute some changes, not all
    assert any(d.silenced_by for d in muted) and any(d.suppressed_by for d in muted)


def test_the_timed_step_pass_makes_the_records_the_stage_core_makes() -> None:
    stream = alert_changes(40)
    timed = step_pass(suppressed_notifier(12, 10), stream)
    untimed = suppressed_notifier(12, 10)
    assert [[d.model_dump() for d in r] for r in timed.results] == [
        [d.model_dump() for d in untimed.step(c)] for c in stream
    ]
    decided = decide_pass(suppressed_notifier(12, 10), stream).results
    assert [r[-1].notify for r in timed.results] == [d.notify for d in decided]


def test_the_cost_figures_compare_the_loaded_rules_with_none() -> None:
    figures = suppression_cost(changes=30, silences=12, windows=10)
    assert (figures["changes"], figures["silences"], figures["windows"]) == (30, 12, 10)
    for name in ("decide", "step"):
        part = figures[name]
        base_notified, loaded_notified = part["notified"]
        assert base_notified == 30 and 0 < loaded_notified < 30  # no rules mute nothing
        for side in ("baseline", "loaded"):
            s = part[side]
            assert 0 < s["cpu_p50_us"] <= s["cpu_p99_us"] and s["per_cpu_s"] > 0
            assert 0 < s["wall_p50_us"] <= s["wall_p99_us"]
        assert part["cpu_ratio_p50"] > 0
    assert figures["rules_build_cpu_ms"] > 0


def test_the_latency_plan_opens_each_alert_before_turning_it_critical_once() -> None:
    plan = posts(200, "r", lag=10)
    assert len(plan) == len(set(plan)) == 200
    seen: set[str] = set()
    for resource, severity in plan:
        assert (severity == "critical") == (resource in seen)
        seen.add(resource)
    assert sum(s == "critical" for _, s in plan) == 95
    assert quantiles([3.0, 1.0, 2.0]) == {"p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}
    assert quantiles([]) == {}


def test_the_hops_split_each_change_s_latency_at_its_records() -> None:
    key, late = ("r-1", "major"), ("r-2", "major")  # the second has no decision record: left out
    split = hops({key: 10.0, late: 10.0}, {key: 10.05, late: 10.1}, {key: 10.06}, {key: 10.1, late: 11.0})
    assert [round(q["p50_ms"]) for q in split.values()] == [50, 10, 40]
    assert all(q["max_ms"] == q["p50_ms"] for q in split.values())
