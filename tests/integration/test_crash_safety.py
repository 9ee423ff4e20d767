"""kill -9 the worker in the middle of 20,000 observations: nothing lost, nothing double-applied."""

from __future__ import annotations

import threading

from ems.scenario import expected, generate
from tests.integration.harness import Pipeline, produce

TOTAL = 20_000


def test_kill_9_mid_stream_loses_and_doubles_nothing(pipeline: Pipeline) -> None:
    sent = list(generate(TOTAL, assets=200, seed=5))
    pipeline.start_worker()
    producer = threading.Thread(target=produce, args=(pipeline, sent, 0.05))
    producer.start()
    pipeline.wait_projected(4000, timeout=240)  # the worker is busy in the middle of the stream
    pipeline.kill("worker")  # SIGKILL: no flush, no commit, no goodbye
    killed_at = pipeline.scalar("SELECT count(*) FROM events")
    assert killed_at < TOTAL, "the stream was over before the kill; the test proves nothing"
    pipeline.start_worker()
    producer.join(300)
    pipeline.wait_projected(TOTAL, timeout=300)
    pipeline.wait_alert_events(TOTAL, timeout=300)

    want = expected(sent)
    rows = pipeline.query("SELECT asset_id, event, event_count, severity, status FROM alerts")
    got = {(r["asset_id"], r["event"]): r for r in rows}
    assert set(got) == set(want)
    wrong = {
        k: (got[k]["event_count"], w.event_count)
        for k, w in want.items()
        if got[k]["event_count"] != w.event_count
    }
    assert not wrong, f"event counts differ (got, sent): {list(wrong.items())[:10]}"
    assert all((got[k]["severity"], got[k]["status"]) == (w.severity, w.status) for k, w in want.items())
    assert pipeline.scalar("SELECT count(*) FROM events") == TOTAL
