"""The correlation core: grouping by topology, rules and DBSCAN, merge, split, resolve, impact, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.ml.correlation.config import CorrelationConfig, Rule
from ems.ml.correlation.engine import Correlator
from ems.ml.evaluate import final_members
from ems.ml.offline import alert_changes, correlate
from ems.schemas.asset import Asset
from ems.schemas.incident import IncidentChanged
from ems.schemas.observation import EventBody, Observation
from tests.unit.helpers import asset

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def obs(at: float, asset_id: str | None, event: str, severity: str = "critical", **body) -> Observation:
    return Observation(
        event_id=f"{asset_id}-{event}-{at}-{severity}",
        source="nms",
        asset_id=f"ast_{asset_id}" if asset_id else None,
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event=event, severity=severity, resource=body.pop("resource", asset_id), **body),
    )


def site(name: str, switches: int = 4, servers: int = 4) -> list[Asset]:
    """A poller-reachable site: core router (links recorded from its side) -> switches -> servers."""
    out = [
        asset(
            f"{name}-core",
            "router",
            [("connected_to", f"{name}-sw{i}") for i in range(switches)] + [("connected_to", "wan")],
            criticality=5,
        )
    ]
    for i in range(switches):
        out.append(asset(f"{name}-sw{i}", "switch"))
        out += [
            asset(f"{name}-srv{i}{j}", "server", [("connected_to", f"{name}-sw{i}")]) for j in range(servers)
        ]
    return out


def base() -> list[Asset]:
    return [asset("wan", "router"), asset("noc", "server", [("connected_to", "wan")], tags=["poller"])]


def current(records: list[IncidentChanged]) -> dict[str, set[str]]:
    """incident id -> the resources of its current members."""
    out: dict[str, set[str]] = {}
    for incident, m in final_members(records):
        out.setdefault(incident, set()).add(m.resource)
    return out


def headers(records: list[IncidentChanged]) -> dict[str, IncidentChanged]:
    latest: dict[str, IncidentChanged] = {}
    for r in records:
        latest[r.incident.incident_id] = r
    return latest


def run(observations, assets, config=None):
    return correlate(alert_changes(observations), assets, config)


def test_a_core_router_down_behind_20_devices_is_one_incident_with_its_root_and_impact() -> None:
    assets = (
        base()
        + site("a", 4, 4)
        + [
            asset(
                "checkout", "service", [("depends_on", "app")], revenue_per_hour=25_000.0, users_served=40_000
            ),
            asset("app", "application", [("runs_on", "a-srv00")], criticality=4),
        ]
    )
    down = [obs(0, "a-core", "Device Unreachable")]
    # The 20 devices behind it report over the next minute, some before the router itself.
    behind = [f"a-sw{i}" for i in range(4)] + [f"a-srv{i}{j}" for i in range(4) for j in range(4)]
    down += [obs(-10 + 3 * n, name, "Device Unreachable") for n, name in enumerate(behind)]
    _, records = run(down, assets)
    groups = current(records)
    assert len(groups) == 1
    ((incident_id, members),) = groups.items()
    assert members == {"a-core", *behind}
    final = headers(records)[incident_id].incident
    assert final.alerts == 21 and final.status == "open"
    assert final.root_cause is not None and final.root_cause.asset_id == "ast_a-core"
    assert final.root_cause.explains == 20
    assert final.impact.revenue_per_hour == 25_000.0
    assert [s.name for s in final.impact.services] == ["checkout"]
    assert final.impact.score > 50 and set(final.impact.components) == {
        "criticality",
        "services",
        "blast_radius",
        "severity",
        "duration",
    }
    reasons = {m.resource: m.reason for _, m in final_members(records)}
    assert reasons["a-srv33"] == "unreachable"


def test_two_faults_at_different_sites_minutes_apart_stay_two_incidents() -> None:
    assets = base() + site("a", 2, 2) + site("b", 2, 2)
    first = [obs(0, "a-sw0", "Device Unreachable")] + [
        obs(5 + i, f"a-srv0{i}", "Device Unreachable") for i in range(2)
    ]
    second = [obs(180, "b-sw1", "Device Unreachable")] + [
        obs(185 + i, f"b-srv1{i}", "Device Unreachable") for i in range(2)
    ]
    _, records = run(first + second, assets)
    assert sorted(map(sorted, current(records).values())) == [
        ["a-srv00", "a-srv01", "a-sw0"],
        ["b-srv10", "b-srv11", "b-sw1"],
    ]


def test_two_core_routers_down_minutes_apart_are_two_cuts_not_one_incident() -> None:
    # a-core and b-core are 2 hops apart through the WAN: close enough to relate, but each is reached
    # by the poller directly, so each is its own cut.
    assets = base() + site("a", 1, 1) + site("b", 1, 1)
    _, records = run(
        [obs(0, "a-core", "Device Unreachable"), obs(120, "b-core", "Device Unreachable")], assets
    )
    assert sorted(map(sorted, current(records).values())) == [["a-core"], ["b-core"]]
    # Without pollers nothing says so: the link relates them.
    plain = [a for a in assets if "poller" not in a.tags]
    _, records = run(
        [obs(0, "a-core", "Device Unreachable"), obs(120, "b-core", "Device Unreachable")], plain
    )
    assert list(current(records).values()) == [{"a-core", "b-core"}]


def test_unrelated_alerts_far_apart_in_the_graph_or_in_time_stay_alone() -> None:
    assets = base() + site("a", 2, 2)
    _, records = run(
        [obs(0, "a-srv00", "Disk Full", "major"), obs(1000, "a-srv01", "High Memory", "warning")], assets
    )
    assert len(current(records)) == 2


def test_evidence_joining_two_incidents_merges_them_and_moves_the_members() -> None:
    # srv00 and srv10 are 4 hops apart (two incidents); sw0 - core - sw1 links them within 2 hops each.
    assets = base() + site("a", 2, 1)
    alerts = [
        obs(0, "a-srv00", "Service Down", "major"),
        obs(10, "a-srv10", "Service Down", "major"),
        obs(20, "a-core", "High CPU", "major"),
    ]
    _, records = run(alerts, assets)
    assert list(current(records).values()) == [{"a-srv00", "a-srv10", "a-core"}]
    kinds = {r.kind for r in records}
    assert {"merged", "absorbed"} <= kinds
    moved = [m for r in records for m in r.members if m.left_at is not None]
    assert len(moved) == 1 and moved[0].resource in {"a-srv00", "a-srv10"}
    assert any(m.arrival == "merge" and m.left_at is None for _, m in final_members(records))
    gone = [r for r in records if r.kind == "merged"][-1].incident
    assert gone.status == "merged" and gone.merged_into in current(records)


def test_an_unlinked_member_is_split_off() -> None:
    assets = base() + site("a", 1, 2)
    c = Correlator()
    for a in assets:
        c.asset(a)
    for change in alert_changes([obs(0, "a-srv00", "Service Down"), obs(5, "a-srv01", "Service Down")]):
        c.apply(change)
    records = c.flush()
    assert len(current(records)) == 1
    # The registry learns srv01 is elsewhere: no member is within reach of it any more.
    c.asset(asset("a-srv01", "server", [("connected_to", "wan")]))
    records += c.flush()
    assert sorted(map(sorted, current(records).values())) == [["a-srv00"], ["a-srv01"]]
    assert any(r.kind == "split" for r in records)


def test_members_still_failing_after_the_root_recovered_are_split_off() -> None:
    assets = base() + site("a", 1, 2)
    alerts = [
        obs(0, "a-sw0", "Device Unreachable"),
        obs(5, "a-srv00", "Device Unreachable"),
        obs(8, "a-srv01", "Disk Full", "major"),
        obs(60, "a-sw0", "Device Unreachable", "ok"),
        obs(70, "a-srv00", "Device Unreachable", "ok"),
        obs(900, "a-srv00", "High Memory", "warning"),
    ]  # later alerts move the clock on
    _, records = run(alerts, assets)
    groups = sorted(map(sorted, current(records).values()))
    assert ["a-srv01"] in groups and ["a-srv00", "a-sw0"] in groups


def test_an_incident_resolves_when_every_member_resolved_and_reopens_on_a_relapse() -> None:
    assets = base() + site("a", 1, 1)
    alerts = [
        obs(0, "a-sw0", "Device Unreachable"),
        obs(5, "a-srv00", "Device Unreachable"),
        obs(100, "a-sw0", "Device Unreachable", "ok"),
    ]
    _, records = run(alerts, assets)
    assert headers(records)[records[-1].incident.incident_id].incident.status == "open"
    _, records = run([*alerts, obs(110, "a-srv00", "Device Unreachable", "ok")], assets)
    last = records[-1]
    assert last.incident.status == "resolved" and last.kind == "resolved"
    assert last.incident.resolved_at == T0 + timedelta(seconds=110)
    _, records = run(
        [*alerts, obs(110, "a-srv00", "Device Unreachable", "ok"), obs(150, "a-srv00", "Device Unreachable")],
        assets,
    )
    assert records[-1].incident.status == "open" and records[-1].kind == "reopened"
    assert len(current(records)) == 1  # the relapse rejoined its incident (same alert)
    episodes = sorted(m.episode for _, m in final_members(records) if m.resource == "a-srv00")
    assert len(episodes) == 2 and episodes[0] < episodes[1]


def test_every_event_is_traced_to_its_episode_and_an_alert_change_applies_once() -> None:
    assets = base() + site("a", 1, 1)
    alerts = [obs(0, "a-sw0", "Device Unreachable"), obs(30, "a-sw0", "Device Unreachable")]
    changes = alert_changes(alerts)
    c = Correlator()
    for a in assets:
        c.asset(a)
    for change in changes + changes:  # everything delivered twice
        c.apply(change)
    records = c.flush()
    ((_, member),) = final_members(records)
    assert member.event_ids == [o.event_id for o in alerts] and member.event_count == 2


def test_a_keep_style_rule_groups_n_matching_alerts_within_its_window() -> None:
    rule = Rule(
        name="backups", match={"event": "^Backup"}, group_by=("environment",), threshold=3, window_s=600
    )
    alerts = [obs(i * 100, f"h{i}", "Backup Failed", "minor") for i in range(4)]
    alerts.append(obs(150, "h9", "High Memory", "minor"))
    _, records = run(alerts, [], CorrelationConfig(rules=(rule,)))
    groups = current(records)
    assert sorted(map(sorted, groups.values())) == [["h0", "h1", "h2", "h3"], ["h9"]]
    reasons = sorted(m.reason for _, m in final_members(records) if m.event == "Backup Failed")
    assert reasons.count("rule") >= 2


def test_dbscan_places_an_alert_that_names_only_a_service() -> None:
    assets = (
        base()
        + site("a", 1, 1)
        + [
            asset("db", "database", [("runs_on", "a-srv00")]),
            asset("api", "application", [("depends_on", "db")], business_service="payments"),
            asset("payments", "service", [("depends_on", "api")], revenue_per_hour=10_000.0),
        ]
    )
    alerts = [
        obs(0, "db", "High CPU", "major", title="db CPU 97%"),
        obs(
            40,
            "api",
            "High Response Time",
            "major",
            title="payment API p95 2100 ms > 500 ms",
            service=["payments"],
        ),
        obs(
            90,
            None,
            "SLO Burn Rate",
            "major",
            resource="payments",
            title="payments latency SLO burn",
            service=["payments"],
        ),
        obs(400, "a-sw0", "NTP Drift", "warning"),  # moves event time on
    ]
    _, records = run(alerts, assets)
    groups = sorted(map(sorted, current(records).values()))
    assert ["a-sw0"] in groups and ["api", "db", "payments"] in groups
    by_resource = {m.resource: m for _, m in final_members(records)}
    assert by_resource["payments"].reason == "dbscan" and "DBSCAN distance" in by_resource["payments"].detail
    assert by_resource["api"].reason == "topology"
    root = headers(records)[next(i for i, g in current(records).items() if "db" in g)].incident.root_cause
    assert root is not None and root.asset_id == "ast_db" and root.evidence.startswith("1 of 1")


def test_a_restored_correlator_carries_on_as_if_it_had_never_stopped() -> None:
    assets = base() + site("a", 2, 2) + site("b", 2, 2)
    alerts = [
        obs(0, "a-sw0", "Device Unreachable"),
        obs(5, "a-srv00", "Device Unreachable"),
        obs(200, "b-sw1", "Device Unreachable"),
        obs(210, "a-srv01", "Device Unreachable"),
        obs(230, "b-srv11", "Device Unreachable"),
        obs(400, "a-sw0", "Device Unreachable", "ok"),
    ]
    changes = alert_changes(alerts)
    _, whole = correlate(changes, assets)
    first = Correlator()
    for a in assets:
        first.asset(a)
    for change in changes[:3]:
        first.apply(change)
    before = first.flush()
    again = Correlator()
    for a in assets:
        again.asset(a)
    again.restore(before)
    for change in changes:  # redelivered from the start: what was applied is recognised
        again.apply(change)
    after = before + again.flush()
    assert current(after) == current(whole)
    assert {i: h.incident.status for i, h in headers(after).items()} == {
        i: h.incident.status for i, h in headers(whole).items()
    }
    assert [r.incident.seq for r in after] == list(range(1, len(after) + 1))


def test_the_same_log_gives_the_same_incidents() -> None:
    assets = base() + site("a", 2, 2)
    alerts = [obs(i * 7, f"a-srv{i % 2}{i % 2}", "Device Unreachable") for i in range(4)]
    one = [r.model_dump() for r in run(alerts, assets)[1]]
    two = [r.model_dump() for r in run(alerts, assets)[1]]
    assert one == two


def test_a_device_reported_down_late_gathers_what_went_dark_behind_it() -> None:
    # core -> dist -> access -> server, twice: the two servers are 6 hops apart, 3 from the core.
    assets = base() + [asset("core", "router", [("connected_to", "wan")])]
    for i in range(2):
        assets += [
            asset(f"d{i}", "switch", [("connected_to", "core")]),
            asset(f"x{i}", "switch", [("connected_to", f"d{i}")]),
            asset(f"s{i}", "server", [("connected_to", f"x{i}")]),
        ]
    alerts = [obs(0, "s0", "Device Unreachable"), obs(5, "s1", "Device Unreachable")]
    _, records = run(alerts, assets)
    assert len(current(records)) == 2  # nothing relates them yet
    _, records = run([*alerts, obs(40, "core", "Device Unreachable")], assets)
    assert list(current(records).values()) == [{"s0", "s1", "core"}]
    by_resource = {m.resource: m for _, m in final_members(records)}
    assert by_resource["s1"].reason == by_resource["s0"].reason == "unreachable"
    assert by_resource["s0"].detail == "behind core, which is down (Device Unreachable)"
    final = headers(records)[next(iter(current(records)))].incident
    assert final.root_cause.asset_id == "ast_core" and final.root_cause.explains == 2


def test_alerts_of_two_tenants_are_never_grouped() -> None:
    assets = base() + site("a", 1, 2)
    alerts = [
        obs(0, "a-srv00", "Service Down"),
        obs(5, "a-srv01", "Service Down"),
    ]
    tenants = [a.model_copy(update={"tenant": t}) for a, t in zip(alerts, ("acme", "globex"), strict=True)]
    _, records = run(tenants, assets)
    groups = current(records)
    assert sorted(map(sorted, groups.values())) == [["a-srv00"], ["a-srv01"]]
    assert {headers(records)[i].incident.tenant for i in groups} == {"acme", "globex"}
    _, records = run(alerts, assets)  # the same alerts of one tenant: one incident
    assert len(current(records)) == 1


def test_pending_members_counts_each_change_and_stops_early_when_asked() -> None:
    # Ten unrelated alerts far apart in time: ten single-member incidents, each one membership pending.
    alerts = [obs(i * 3600, None, f"Disk full {i}", resource=f"host{i}") for i in range(10)]
    c = Correlator()
    for a in base():
        c.asset(a)
    for change in alert_changes(alerts):
        c.apply(change)
    assert c.pending_members() == 10
    assert c.pending_members(at_least=3) == 3  # the caller asks only whether a record is full
    assert c.pending_members(at_least=50) == 10
    c.flush()
    assert c.pending_members() == 0
