"""Threshold core: levels, hysteresis, minimum duration, rule choice by tag / class."""

import pytest

from ems.collectors.snmp_thresholds import ThresholdRule, Thresholds


def feed(t: Thresholds, values, metric="cpu_util_pct", step=60.0, **kw):
    out = []
    for i, v in enumerate(values):
        b = t.observe("a1", metric, {}, v, i * step, **kw)
        out.append(b.severity if b else None)
    return out


def test_fires_after_minimum_duration_and_clears_with_hysteresis():
    t = Thresholds(
        [ThresholdRule(metric="cpu_util_pct", warning=80, critical=90, hysteresis=5, for_seconds=120)]
    )
    # 85 for 0, 60, 120 s -> warning at the third sample; 78 stays warning (hysteresis); 74 clears
    assert feed(t, [85, 85, 85, 78, 74]) == [None, None, "warning", None, "ok"]


def test_short_spike_does_not_fire():
    t = Thresholds([ThresholdRule(metric="cpu_util_pct", warning=80, for_seconds=120)])
    assert feed(t, [95, 50, 95, 50]) == [None, None, None, None]


def test_escalates_to_critical_and_back_down_one_level():
    t = Thresholds([ThresholdRule(metric="m", warning=10, critical=20, hysteresis=1)])
    assert feed(t, [15, 25, 19.5, 18, 5], metric="m") == ["warning", "critical", None, "warning", "ok"]


def test_most_specific_rule_wins():
    rules = [
        ThresholdRule(metric="m", warning=50),
        ThresholdRule(metric="m", warning=70, device_class="core"),
        ThresholdRule(metric="m", warning=90, tag="dc1"),
    ]
    t = Thresholds(rules)
    assert t.rule_for("m").warning == 50
    assert t.rule_for("m", device_class="core").warning == 70
    assert t.rule_for("m", tags=("dc1",), device_class="core").warning == 90
    assert t.rule_for("other") is None


def test_defaults_cover_utilization_errors_cpu_storage():
    t = Thresholds()
    for metric in (
        "if_in_util_pct",
        "if_out_util_pct",
        "if_in_errors_ps",
        "cpu_util_pct",
        "storage_used_pct",
    ):
        assert t.rule_for(metric) is not None
    b = t.observe("a", "storage_used_pct", {"storage": "/"}, 96, 0)
    assert b is not None and b.severity == "critical" and b.labels == (("storage", "/"),)


def test_series_are_independent_per_label():
    t = Thresholds([ThresholdRule(metric="m", warning=1)])
    assert t.observe("a", "m", {"interface": "x"}, 5, 0).severity == "warning"
    assert t.observe("a", "m", {"interface": "y"}, 0, 0) is None


def test_rule_validation():
    with pytest.raises(ValueError, match="needs a warning or a critical"):
        ThresholdRule(metric="m")
    with pytest.raises(ValueError, match="critical below warning"):
        ThresholdRule(metric="m", warning=10, critical=5)


def test_below_rules_fire_when_the_value_falls_and_clear_with_hysteresis_above():
    rule = ThresholdRule(metric="free_mb", warning=100, critical=20, hysteresis=10, below=True)
    t = Thresholds([rule])
    # 150 ok; 90 warning; 15 critical; 25 stays critical (hysteresis); 35 back to warning; 105 stays; 115 ok
    assert feed(t, [150, 90, 15, 25, 35, 105, 115], metric="free_mb") == [
        None,
        "warning",
        "critical",
        None,
        "warning",
        None,
        "ok",
    ]
    with pytest.raises(ValueError, match="critical above warning"):
        ThresholdRule(metric="free_mb", warning=10, critical=20, below=True)
