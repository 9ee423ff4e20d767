"""Judging the pipeline from stage heartbeats (api/health.py)."""

from __future__ import annotations

from ems.api.health import judge_stages
from ems.settings import Settings

NOW = 1_800_000_000.0
SETTINGS = Settings(stuck_after=60, health_forget_after=3600)


def hb(stage: str, **fields: object) -> dict:
    base = {
        "stage": stage,
        "instance": "host:1",
        "state": "running",
        "reason": None,
        "since": NOW - 300,
        "last_progress": NOW - 1,
        "records": 10,
        "dead_letters": 0,
        "lag": 0,
        "process_restarts": 0,
        "process_started": NOW - 300,
        "last_exit": None,
    }
    return base | fields


def test_all_running_and_keeping_up_is_healthy() -> None:
    report, problems = judge_stages(
        {"normalize": NOW, "dedupe": NOW}, [hb("normalize"), hb("dedupe")], NOW, SETTINGS
    )
    assert problems == [] and report["normalize"]["ok"] and report["dedupe"]["lag"] == 0


def test_a_stage_without_live_worker_is_a_problem_until_forgotten() -> None:
    _, problems = judge_stages({"normalize": NOW - 30}, [], NOW, SETTINGS)
    assert problems == ["normalize: no live worker (last heartbeat 30 s ago)"]
    _, problems = judge_stages({"normalize": NOW - 4000}, [], NOW, SETTINGS)
    assert problems == []


def test_expected_stages_count_before_they_ever_report() -> None:
    settings = Settings(health_expected_stages=["dedupe"])
    _, problems = judge_stages({}, [], NOW, settings)
    assert problems == ["dedupe: no live worker (never reported)"]


def test_paused_and_failing_stages_carry_their_reason() -> None:
    beats = [
        hb(
            "projection:alerts", state="paused", since=NOW - 12, reason="OperationalError: connection refused"
        ),
        hb("assets", state="failing", since=NOW - 3, reason="RuntimeError: a bug"),
    ]
    _, problems = judge_stages({}, beats, NOW, SETTINGS)
    assert problems == [
        "assets (host:1): failing for 3 s: RuntimeError: a bug",
        "projection:alerts (host:1): paused for 12 s: OperationalError: connection refused",
    ]


def test_lag_without_progress_is_stuck_but_lag_with_progress_is_not() -> None:
    busy = hb("normalize", lag=50_000, last_progress=NOW - 2)
    stuck = hb("dedupe", lag=12, last_progress=NOW - 90)
    idle = hb("assets", lag=0, last_progress=NOW - 900)
    _, problems = judge_stages({}, [busy, stuck, idle], NOW, SETTINGS)
    assert problems == ["dedupe (host:1): stuck: 12 records waiting and no progress for 90 s"]


def test_a_crash_loop_is_reported_until_the_process_has_run_a_minute() -> None:
    fresh = hb("normalize", process_restarts=6, process_started=NOW - 5, last_exit=1)
    _, problems = judge_stages({}, [fresh], NOW, SETTINGS)
    assert problems == [
        "normalize (host:1): crash loop: its process was restarted 6 times recently (last exit code 1)"
    ]
    stable = hb("normalize", process_restarts=6, process_started=NOW - 120, last_exit=1)
    assert judge_stages({}, [stable], NOW, SETTINGS)[1] == []


def test_two_instances_of_a_stage_sum_their_lag() -> None:
    beats = [hb("normalize", instance="a:1", lag=5), hb("normalize", instance="b:2", lag=7)]
    report, problems = judge_stages({"normalize": NOW}, beats, NOW, SETTINGS)
    assert problems == [] and report["normalize"]["lag"] == 12 and len(report["normalize"]["instances"]) == 2


def test_metrics_export_each_stage_and_projection_lag_and_drop_stages_gone() -> None:
    from prometheus_client import generate_latest

    from ems.api.metrics import ApiMetrics

    stuck = hb("projection:alerts", lag=412, last_progress=NOW - 120)
    report, _ = judge_stages(
        {"normalize": NOW, "projection:alerts": NOW, "heartbeats": NOW - 30},
        [hb("normalize", lag=3), hb("normalize", instance="host:2", lag=4), stuck],
        NOW,
        SETTINGS,
    )
    metrics = ApiMetrics()
    metrics.set_stages(report)
    text = generate_latest(metrics.registry).decode()
    for line in (
        'ems_stage_lag{stage="normalize"} 7.0',
        'ems_stage_lag{stage="projection:alerts"} 412.0',
        'ems_stage_instances{stage="normalize"} 2.0',
        'ems_stage_healthy{stage="normalize"} 1.0',
        'ems_stage_healthy{stage="projection:alerts"} 0.0',  # stuck
        'ems_stage_instances{stage="heartbeats"} 0.0',  # no live worker
        'ems_stage_healthy{stage="heartbeats"} 0.0',
        'ems_stage_stalled_seconds{stage="projection:alerts"} 120.0',  # stuck behind a stall
        'ems_stage_stalled_seconds{stage="normalize"} 1.0',  # waiting records, progress 1 s ago
    ):
        assert line in text, line
    assert 'ems_stage_lag{stage="heartbeats"}' not in text  # unknown, not 0
    metrics.set_stages({})
    assert "normalize" not in generate_latest(metrics.registry).decode()


def test_each_stage_names_the_kinds_of_its_problems() -> None:
    beats = [
        hb("normalize", lag=9, last_progress=NOW - 61),
        hb("projection:alerts", state="paused", reason="postgres away"),
        hb("assets", process_restarts=5, process_started=NOW - 10),
        hb("tickets"),
    ]
    report, _ = judge_stages({"heartbeats": NOW - 30}, beats, NOW, SETTINGS)
    assert report["normalize"]["kinds"] == ["stuck"] and report["normalize"]["stalled_s"] == 61.0
    assert report["projection:alerts"]["kinds"] == ["paused"]
    assert report["assets"]["kinds"] == ["crash_loop"]
    assert report["heartbeats"]["kinds"] == ["gone"] and report["heartbeats"]["stalled_s"] is None
    assert report["tickets"]["kinds"] == [] and report["tickets"]["stalled_s"] == 0.0


def test_each_instance_shows_its_dead_letters_and_the_records_it_skipped() -> None:
    report, problems = judge_stages({}, [hb("anomaly", dead_letters=1, skipped=3)], NOW, SETTINGS)
    [inst] = report["anomaly"]["instances"]
    assert (inst["dead_letters"], inst["skipped"], problems) == (1, 3, [])
