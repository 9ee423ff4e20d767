"""The alert query API on real servers: events posted through the API, then filters, count, top-N and
cursor paging checked against the full alert list (every alert exactly once across pages)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from ems.scenario import expected, generate
from tests.integration.harness import Pipeline

REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]


def events() -> list[dict]:
    start = datetime.now(UTC) - timedelta(minutes=30)
    out = []
    for i, e in enumerate(generate(600, assets=15, seed=5, start=start, change_rate=0.2, clear_rate=0.1)):
        n = int(e["asset_id"][-5:])
        attributes = {"region": REGIONS[n % 3], "seq": i}
        if n % 2:
            attributes["team"] = f"team-{n % 4}"
        out.append(
            {
                **e,
                "environment": "staging" if n % 5 == 0 else "production",
                "tags": ["scenario", "blue" if n % 3 else "red"],
                "attributes": attributes,
                "text": "disk exhausted" if "Disk" in e["event"] else "all quiet",
            }
        )
    return out


def page_all(client: httpx.Client, params: dict) -> list[dict]:
    """Every page of a listing via next_cursor."""
    rows, cursor = [], None
    while True:
        r = client.get(
            "/api/v1/alerts", params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        rows += r.json()["alerts"]
        cursor = r.json().get("next_cursor")
        if cursor is None:
            return rows


def test_filters_count_top_and_cursors(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, alerts_exact_total_limit="20")
    try:
        run(pipeline)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    sent = events()
    with pipeline.client() as client:
        for i in range(0, len(sent), 100):
            assert client.post("/api/v1/events", json=sent[i : i + 100]).status_code == 202
    pipeline.wait_alert_events(len(sent))
    want = expected(sent)
    with pipeline.client() as c:
        body = c.get("/api/v1/alerts", params={"limit": 1000, "total": "exact"}).json()
        alerts = body["alerts"]
        assert body["total"] == len(alerts) == len(want) and body["total_exact"] is True
        assert len(want) > 20  # so the capped total below is an estimate

        for params in ({}, {"tag": "scenario", "status": ["open", "resolved"]}):  # estimates above the cap
            auto = c.get("/api/v1/alerts", params={**params, "limit": 1}).json()
            assert auto["total_exact"] is False and auto["total"] > 20, params
        assert "total" not in c.get("/api/v1/alerts", params={"total": "false"}).json()

        some_time = sorted(a["last_seen"] for a in alerts)[len(alerts) // 2]
        cases = [
            ({"status": "open"}, lambda a: a["status"] == "open"),
            (
                {"severity!": "critical", "status": "resolved"},
                lambda a: a["severity"] != "critical" and a["status"] == "resolved",
            ),
            ({"severity": ["critical", "major"]}, lambda a: a["severity"] in ("critical", "major")),
            ({"severity": "!critical"}, lambda a: a["severity"] != "critical"),
            ({"tag": "red"}, lambda a: "red" in a["tags"]),
            (
                {"tags!": "red", "environment": "staging"},
                lambda a: "red" not in a["tags"] and a["environment"] == "staging",
            ),
            ({"attributes.region": "eu-west-1"}, lambda a: a["attributes"]["region"] == "eu-west-1"),
            ({"attributes.region!": "eu-west-1"}, lambda a: a["attributes"]["region"] != "eu-west-1"),
            ({"attributes.team": "*"}, lambda a: "team" in a["attributes"]),
            ({"attributes.team!": "*"}, lambda a: "team" not in a["attributes"]),
            ({"attributes.team": "~-[13]$"}, lambda a: re.search("-[13]$", a["attributes"].get("team", "x"))),
            ({"attributes.seq": str(alerts[0]["attributes"]["seq"])}, lambda a: a is alerts[0]),
            ({"event": "~^Disk"}, lambda a: a["event"].startswith("Disk")),
            ({"event!": "~^Disk"}, lambda a: not a["event"].startswith("Disk")),
            ({"q": "EXHAUSTED"}, lambda a: "exhausted" in a["text"]),
            ({"duplicate_count>": "10"}, lambda a: a["duplicate_count"] >= 10),
            ({"from": some_time}, lambda a: a["last_seen"] >= some_time),
            ({"to": some_time}, lambda a: a["last_seen"] < some_time),
        ]
        for params, keep in cases:
            r = c.get("/api/v1/alerts", params={**params, "limit": 1000, "total": "exact"})
            assert r.status_code == 200, (params, r.text)
            got = {a["alert_id"] for a in r.json()["alerts"]}
            assert got == {a["alert_id"] for a in alerts if keep(a)}, params
            assert r.json()["total"] == len(got), params

        # counts by status and severity, with and without a filter
        for params, rows in (
            ({}, alerts),
            ({"environment": "staging"}, [a for a in alerts if a["environment"] == "staging"]),
        ):
            counts = c.get("/api/v1/alerts/count", params=params).json()
            assert counts["total"] == len(rows)
            assert counts["status_counts"] == dict(Counter(a["status"] for a in rows))
            assert counts["severity_counts"] == dict(Counter(a["severity"] for a in rows))

        # top-N
        top = c.get("/api/v1/alerts/top", params={"by": "duplicates", "n": 5}).json()["alerts"]
        ranked = sorted(alerts, key=lambda a: (a["duplicate_count"], a["alert_id"]), reverse=True)
        assert [a["alert_id"] for a in top] == [a["alert_id"] for a in ranked[:5]]
        top = c.get("/api/v1/alerts/top", params={"by": "standing", "n": 5}).json()["alerts"]
        standing = sorted(
            (a for a in alerts if a["status"] != "resolved"), key=lambda a: (a["first_seen"], a["alert_id"])
        )
        assert [a["alert_id"] for a in top] == [a["alert_id"] for a in standing[:5]]
        flaps = pipeline.query(
            "SELECT alert_id, count(*) AS n FROM alert_history WHERE kind <> 'opened' "
            "GROUP BY alert_id ORDER BY n DESC, alert_id LIMIT 3"
        )
        top = c.get("/api/v1/alerts/top", params={"by": "flapping", "n": 3, "window": 86400}).json()["alerts"]
        assert [(a["alert_id"], a["transitions"]) for a in top] == [(f["alert_id"], f["n"]) for f in flaps]
        assert flaps and flaps[0]["n"] > 1

        # keyset paging: every alert exactly once, in order, for several sorts
        for sort in ("-last_seen", "severity,-last_seen", "-asset_id,first_seen", "event_count", "status"):
            rows = page_all(c, {"sort": sort})
            ids = [a["alert_id"] for a in rows]
            assert len(ids) == len(set(ids)) == len(alerts), sort
        rows = page_all(c, {"sort": "-last_seen", "status": "open"})
        newest = sorted(
            (a for a in alerts if a["status"] == "open"), key=lambda a: (a["last_seen"], a["alert_id"])
        )
        assert [a["alert_id"] for a in rows] == [a["alert_id"] for a in reversed(newest)]

        # precise 400s
        cursor = c.get("/api/v1/alerts", params={"limit": 2}).json()["next_cursor"]
        for params, reason in (
            ({"cursor": "nope"}, "invalid cursor"),
            ({"cursor": cursor, "sort": "first_seen"}, "cursor was made for sort=-last_seen,-alert_id"),
            ({"colour": "red"}, "unknown filter 'colour'"),
            ({"attributes": "x"}, "filter attributes by key"),
        ):
            r = c.get("/api/v1/alerts", params=params)
            assert r.status_code == 400 and reason in r.json()["error"], (params, r.text)
        r = c.get("/api/v1/alerts/top", params={"by": "loudest"})
        assert r.status_code == 400 and "by must be" in r.json()["error"]

        # per-alert history stays
        one = c.get(f"/api/v1/alerts/{alerts[0]['alert_id']}").json()
        assert one["alert"]["alert_id"] == alerts[0]["alert_id"] and one["history"][0]["kind"] == "opened"
