"""Self-monitoring end to end (real Kafka, PostgreSQL and Redis), one pipeline with the monitor at a
1 s interval: a stage's worker stopped raises `ProcessGone` on the stage and the API stopped raises
it on the API's URL, both as alerts tagged `self-monitoring`; started again, each alert is resolved.
"""

from __future__ import annotations

import json
import signal

from tests.integration.harness import Pipeline, wait_for


def test_a_stopped_process_raises_a_self_monitoring_alert_cleared_when_it_is_back(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, selfmon_interval="1")
    target = f"{pipeline.api}/health/live"
    pipeline.env["EMS_SELFMON_TARGETS"] = json.dumps([target])
    try:
        run(pipeline, target)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline, target: str) -> None:
    pipeline.start_api()
    pipeline.start_worker(stages="normalize,dedupe,projections,selfmon")
    pipeline.start("suppressions", "worker", "--stages", "suppressions")
    with pipeline.client(timeout=30) as c:

        def stages_ok() -> bool:
            stages = c.get("/health").json()["stages"]
            ok = all(stages.get(s, {}).get("ok") for s in ("suppressions", "selfmon", "dedupe"))
            # and the monitor has finished a round since (it saw the stage up)
            return ok and any(i["last_progress_s"] is not None for i in stages["selfmon"]["instances"])

        def alert(resource: str) -> dict | None:
            params = {"tag": "self-monitoring", "event": "ProcessGone", "resource": resource}
            found = c.get("/api/v1/alerts", params=params).json()["alerts"]
            return found[0] if found else None

        wait_for(stages_ok, 120, "the stages reporting")
        # Whatever the monitor saw while the processes started has been resolved.
        wait_for(
            lambda: (a := alert("suppressions")) is None or a["status"] == "resolved", 60, "a quiet start"
        )
        pipeline.kill("suppressions", signal.SIGTERM)  # a clean stop: its heartbeats go at once
        gone = wait_for(
            lambda: (a := alert("suppressions")) and a["status"] == "open" and a, 60, "ProcessGone"
        )
        assert gone["severity"] == "major" and "no live worker" in gone["text"]
        assert set(gone["tags"]) >= {"self-monitoring", "stage"}

        pipeline.restart("suppressions")
        back = wait_for(
            lambda: (a := alert("suppressions")) and a["status"] == "resolved" and a, 90, "the clear"
        )
        assert back["severity"] == "ok" and back["alert_id"] == gone["alert_id"]
        wait_for(lambda: (a := alert(target)) is None or a["status"] == "resolved", 60, "the API seen up")

    # The API it polls: gone (read straight from the read model while no API answers), then back.
    pipeline.kill("api", signal.SIGTERM)
    api_alert = (
        f"SELECT status, severity FROM {pipeline.name}.alerts WHERE event = 'ProcessGone' AND resource = %s"
    )
    wait_for(
        lambda: pipeline.query(api_alert, (target,)) == [{"status": "open", "severity": "major"}],
        60,
        "API gone",
    )
    pipeline.start_api()
    with pipeline.client(timeout=30) as c:
        params = {"tag": "self-monitoring", "event": "ProcessGone", "resource": target, "status": "resolved"}
        wait_for(
            lambda: c.get("/api/v1/alerts", params=params).json()["alerts"], 60, "the API's alert resolved"
        )
