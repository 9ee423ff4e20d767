"""Root-cause ranking: the features of candidates, the shipped model on the seed's examples, a root
that never alerted, the forest's contributions, the record's schema version and its upcast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from ems.ml.correlation.topology import Topology
from ems.ml.offline import alert_changes, correlate
from ems.ml.rca.features import NAMES, alert_type, build, candidates_of
from ems.ml.rca.forest import Forest, Tree
from ems.ml.rca.rank import Ranker, default_ranker, ranker_from
from ems.schemas.asset import Asset
from ems.schemas.registry import upcast
from tests.unit.helpers import T0, asset, asset_obs


@dataclass(frozen=True)
class Alerted:
    alert_id: str
    asset_id: str | None
    event: str
    opened_at: datetime
    title: str = ""


def example_1() -> list[Asset]:
    """A poller behind a WAN router; core-router-01 in front of 4 switches with 4 servers each."""
    out = [
        asset("wan", "router", criticality=5),
        asset("noc", "server", [("connected_to", "wan")], tags=["poller"]),
        asset("core-router-01", "router", [("connected_to", "wan")], criticality=5),
    ]
    for i in range(4):
        out.append(asset(f"sw{i}", "switch", [("connected_to", "core-router-01")], criticality=4))
        out += [asset(f"srv{i}{j}", "server", [("connected_to", f"sw{i}")], criticality=3) for j in range(4)]
    return out


BEHIND = [f"sw{i}" for i in range(4)] + [f"srv{i}{j}" for i in range(4) for j in range(4)]


def example_2() -> list[Asset]:
    """Seed Example 2: a payment API and two other applications depend on a database."""
    return [
        asset("wan", "router", criticality=5),
        asset("noc", "server", [("connected_to", "wan")], tags=["poller"]),
        asset("sw", "switch", [("connected_to", "wan")], criticality=4),
        asset("db-srv", "server", [("connected_to", "sw")], criticality=3),
        asset("app-srv", "server", [("connected_to", "sw")], criticality=3),
        asset("pay-db", "database", [("runs_on", "db-srv")], criticality=5),
        asset(
            "payment-api", "application", [("depends_on", "pay-db"), ("runs_on", "app-srv")], criticality=4
        ),
        asset("orders-api", "application", [("depends_on", "pay-db"), ("runs_on", "app-srv")], criticality=4),
        asset("search-api", "application", [("runs_on", "app-srv")], criticality=4),
    ]


def topology(assets: list[Asset]) -> Topology:
    t = Topology()
    for a in assets:
        t.upsert(a)
    return t


def final_rca(observations, assets):
    _, records = correlate(alert_changes(observations), assets)
    latest = {r.incident.incident_id: r.incident for r in records}
    return [i for i in latest.values() if i.alerts]


def test_event_names_map_to_alert_types() -> None:
    assert alert_type("Device Unreachable") == "unreachable"
    assert alert_type("Instance Stopped") == "unreachable"
    assert alert_type("LinkDown") == "link"
    assert alert_type("High CPU") == "performance"
    assert alert_type("High Response Time") == "performance"
    assert alert_type("MetricAnomaly") == "performance"  # the anomaly stage's alert (docs/anomaly.md)
    assert alert_type("Disk Full") == "error"
    assert alert_type("Fan Failure") == "error"
    assert alert_type("Certificate Expiring") == "other"


def test_features_count_what_sits_only_behind_a_candidate() -> None:
    topo = topology(example_1())
    members = [Alerted("a-core", "ast_core-router-01", "Device Unreachable", T0)]
    members += [
        Alerted(f"a-{n}", f"ast_{n}", "Device Unreachable", T0 + timedelta(seconds=k))
        for k, n in enumerate(BEHIND)
    ]
    by_asset = {c.asset_id: c for c in build(members, topo)}
    core, sw0 = by_asset["ast_core-router-01"], by_asset["ast_sw0"]
    assert core.behind == 20 and core.others == 20 and core.get("behind_share") == 1.0
    assert core.get("alerted") == 1.0 and core.get("first_rank") == 0.0 and core.get("type_router") == 1.0
    assert core.get("alert_unreachable") == 1.0 and core.get("criticality") == 1.0
    assert sw0.behind == 4 and sw0.get("behind_share") == pytest.approx(4 / 20)
    assert sw0.get("upstream_down") == 1.0  # the core in front of it is unreachable
    assert len(core.values) == len(NAMES)


def test_an_asset_that_never_alerted_is_a_candidate_when_the_topology_implies_it() -> None:
    topo = topology(example_1())
    members = [Alerted(f"a-{n}", f"ast_{n}", "Device Unreachable", T0) for n in BEHIND]
    assert "ast_core-router-01" in candidates_of(members, topo)
    core = next(c for c in build(members, topo) if c.asset_id == "ast_core-router-01")
    assert core.alert_id is None and core.get("alerted") == 0.0 and core.behind == 20 and core.others == 20


def test_dependents_are_counted_for_a_database() -> None:
    topo = topology(example_2())
    members = [
        Alerted("a-db", "ast_pay-db", "High CPU", T0),
        Alerted("a-pay", "ast_payment-api", "High Response Time", T0 + timedelta(seconds=30)),
        Alerted("a-ord", "ast_orders-api", "High Response Time", T0 + timedelta(seconds=40)),
    ]
    db = next(c for c in build(members, topo) if c.asset_id == "ast_pay-db")
    assert db.dependents == 2 and db.get("dependents_share") == 1.0 and db.get("alert_performance") == 1.0
    assert build([Alerted("slo", None, "SLO Burn Rate", T0)], topo) == []


def test_example_1_names_the_core_router_with_the_devices_behind_it() -> None:
    down = [asset_obs(0, "core-router-01", "Device Unreachable")]
    down += [asset_obs(-10 + 3 * n, name, "Device Unreachable") for n, name in enumerate(BEHIND)]
    (incident,) = final_rca(down, example_1())
    rca = incident.rca
    assert rca is not None and rca.asset_id == "ast_core-router-01" and rca.name == "core-router-01"
    assert rca.alert_id is not None and rca.event == "Device Unreachable"
    assert rca.model == default_ranker().version and 0.5 < rca.confidence <= 1
    assert rca.candidates[0].asset_id == rca.asset_id and len(rca.candidates) == 3
    assert rca.explanation.startswith("core-router-01 Device Unreachable")
    assert "20 of 20 other alerting assets are reachable only through it" in rca.explanation
    assert rca.evidence[0].contribution > 0


def test_example_2_names_the_database_behind_the_slow_payment_api() -> None:
    alerts = [
        asset_obs(0, "pay-db", "High CPU", "major", "pay-db CPU 97% > 90%"),
        asset_obs(40, "payment-api", "High Response Time", "major", "payment-api p95 2100 ms > 500 ms"),
        asset_obs(70, "orders-api", "High Response Time", "major", "orders-api p95 1900 ms > 500 ms"),
    ]
    (incident,) = final_rca(alerts, example_2())
    assert incident.rca is not None and incident.rca.asset_id == "ast_pay-db"
    assert incident.rca.event == "High CPU"
    assert "2 of 2 other alerting assets depend on it" in incident.rca.explanation


def test_a_root_that_never_alerted_is_named_from_the_topology() -> None:
    # The core router's own alert was lost: only the 20 devices behind it report. (The correlation
    # makes 4 incidents of them, one per switch, as each switch is a cut of its own: ranked here as
    # one group, as an incident holding them would be.)
    topo = topology(example_1())
    members = [
        Alerted(f"a-{n}", f"ast_{n}", "Device Unreachable", T0 + timedelta(seconds=3 * k))
        for k, n in enumerate(BEHIND)
    ]
    rca = default_ranker().rank(members, topo)
    assert rca is not None and rca.asset_id == "ast_core-router-01" and rca.alert_id is None
    assert rca.explanation.startswith("core-router-01 never alerted")
    assert "20 of 20 other alerting assets are reachable only through it" in rca.explanation
    # A switch whose own alert was lost, its 4 servers reporting: the switch.
    four = [m for m in members if m.asset_id.startswith("ast_srv1")]
    rca = default_ranker().rank(four, topo)
    assert rca is not None and rca.asset_id == "ast_sw1" and "4 of 4 other alerting" in rca.explanation


def test_a_stopped_instance_seen_only_by_its_load_balancer_is_named() -> None:
    # The load balancer's alerts name no asset, only their target in the title: they count for that
    # application, so the instance it runs on (silent) is a candidate and the verdict.
    topo = topology(
        [
            asset("shop", "service", [("depends_on", "app-1")], criticality=5),
            asset("db", "database", criticality=5),
            asset("i-1", "vm", tags=["cloud"], criticality=3),
            asset("app-1", "application", [("runs_on", "i-1"), ("depends_on", "db")], criticality=4),
        ]
    )
    lb = [
        Alerted("lb-1", None, "Unhealthy Target", T0, "load balancer: target app-1 failed health checks"),
        Alerted("slo-1", None, "SLO Burn Rate", T0, "shop latency SLO burning 14x budget"),
    ]
    assert candidates_of(lb, topo) == ["ast_app-1", "ast_db", "ast_i-1"]  # not the service
    rca = default_ranker().rank(lb, topo)
    assert rca is not None and rca.asset_id == "ast_i-1" and rca.alert_id is None
    # A title naming nothing in the registry leaves nothing to rank.
    nothing = [Alerted("lb-2", None, "Unhealthy Target", T0, "target x down")]
    assert default_ranker().rank(nothing, topo) is None
    # A renamed asset is found by its new name only.
    topo.upsert(asset("x", "application", [("runs_on", "i-1")]).model_copy(update={"asset_id": "ast_app-1"}))
    assert topo.named("x") == "ast_app-1" and topo.named("app-1") is None
    # A name two assets share names neither.
    topo.upsert(asset("x", "vm").model_copy(update={"asset_id": "ast_other"}))
    assert topo.named("x") is None


def test_the_forest_splits_its_prediction_into_contributions() -> None:
    # One stump on feature 0: p 0.5 at the root, 0.1 left (x <= 0.5), 0.9 right.
    stump = Tree(
        left=[1, -1, -1], right=[2, -1, -1], feature=[0, -1, -1], threshold=[0.5, 0, 0], p=[0.5, 0.1, 0.9]
    )
    names = ("a", "b")
    forest = Forest("t", names, (stump, stump), {})
    p, contrib = forest.predict((1.0, 0.0))
    assert p == pytest.approx(0.9) and contrib == pytest.approx([0.4, 0.0])
    assert forest.base + sum(contrib) == pytest.approx(p)
    with pytest.raises(ValueError, match="trained on other features"):
        Ranker(forest)


def test_a_bad_model_file_is_refused_with_its_path(tmp_path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text('{"version": "x"}')
    with pytest.raises(ValueError, match="model.json: not a root-cause model"):
        ranker_from(str(bad))
    assert ranker_from("off") is None


def test_a_v1_incident_batch_is_read_as_the_current_version_without_a_ranking() -> None:
    down = [asset_obs(0, "core-router-01", "Device Unreachable"), asset_obs(5, "sw0", "Device Unreachable")]
    _, records = correlate(alert_changes(down), example_1())
    change = records[0].model_dump(mode="json")
    change["schema_version"] = 1
    change["incident"].pop("rca")
    old = {"type": "incident_batch", "schema_version": 1, "changes": [change], "positions": {}, "seq": 1}
    batch = upcast(old)
    assert batch.schema_version == 3 and batch.changes[0].schema_version == 2
    assert batch.changes[0].incident.rca is None and batch.labels == []
