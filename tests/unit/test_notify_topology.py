"""The notification stage and the asset registry, pure parts: topology suppression (an alert on an asset
the pollers reach only through a down device is a symptom of that device's alert, muted; later changes
notified again once it recovers; the state rebuilt from the decisions alone) and maintenance windows
scoped by the alert's asset facts (tags, business service, site)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.agents.notify import Notifier
from ems.agents.suppressions import Suppressions
from ems.noise.decide import NoiseRules, SymptomOf, decide
from ems.notify.config import RouteConfig
from ems.notify.surfacing import HELD
from ems.notify.topology import Dependencies
from ems.projections.notifications import is_muted, muted_by
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.asset import Asset, Edge
from ems.schemas.command import Command
from ems.schemas.notification import NotificationBatch, NotificationDecided

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROUTES = [RouteConfig(matchers='severity=~"critical|major"', receivers=["hook"])]
DEVICES = [f"dev{i:02d}" for i in range(20)]


def asset(name: str, kind: str = "server", links: tuple[str, ...] = (), **fields) -> Asset:
    edges = [Edge(type="connected_to", target=f"ast_{x}") for x in links]
    return Asset(
        asset_id=f"ast_{name}", name=name, type=kind, edges=edges, created_at=T0, updated_at=T0, **fields
    )


def network() -> list[Asset]:
    """A poller next to a core router with 20 devices behind it; `edge1` is reached directly too."""
    return [
        asset("noc", links=("core",), tags=["poller"]),
        asset("core", "router"),
        *[asset(d, links=("core",)) for d in DEVICES],
        asset("edge1", links=("core", "noc")),
    ]


def change(
    name: str, version: int, kind: str, minutes: float = 0, event: str = "Device Unreachable", **alert
) -> AlertChanged:
    at = T0 + timedelta(minutes=minutes)
    status = "resolved" if kind == "resolved" else "open"
    severity = alert.pop("severity", "normal" if kind == "resolved" else "critical")
    alert.setdefault("alert_id", f"alr_{name}")
    alert.setdefault("fingerprint", f"fp_{name}")
    state = AlertState(
        status=status, severity=severity,
        event_count=version, duplicate_count=0, first_seen=T0, last_seen=at, last_event_id=f"{name}{version}",
        source="nms", event=event, resource=name, asset_id=f"ast_{name}", environment="prod", version=version,
        **alert,
    )  # fmt: skip
    transition = Transition(kind=kind, event_id=f"{name}{version}", at=at, severity=severity, status=status)
    return AlertChanged(alert=state, transitions=[transition], events_applied=1)


def notifier(assets: list[Asset] | None = None) -> Notifier:
    made = Notifier(ROUTES)
    for a in network() if assets is None else assets:
        made.apply_asset(a)
    return made


def decided(n: Notifier, *changes: AlertChanged) -> list[NotificationDecided]:
    return [d for c in changes if (d := n.on_change(c)) is not None]


def test_a_router_outage_with_20_devices_behind_it_is_one_notification_and_20_linked_symptoms() -> None:
    n = notifier()
    [router] = decided(n, change("core", 1, "opened"))
    assert router.notify and [d.receiver for d in router.deliveries] == ["hook"] and router.symptom_of is None
    symptoms = decided(n, *[change(d, 1, "opened", minutes=1, event="NodeDown") for d in DEVICES])
    assert len(symptoms) == 20 and not any(s.notify or s.deliveries for s in symptoms)
    parent = {
        "alert_id": "alr_core",
        "asset_id": "ast_core",
        "resource": "core",
        "event": "Device Unreachable",
    }
    assert all(s.symptom_of == parent for s in symptoms)
    assert symptoms[0].reasons == [
        "symptom of alert alr_core: reached only through core (Device Unreachable), which is down"
    ]
    assert all(is_muted(s) and muted_by(s)["symptom_of"] == parent for s in symptoms)
    # Any event of an asset behind it is a symptom, not only a down one; an asset with a path of its
    # own to the poller is not behind it.
    [cpu] = decided(
        n, change("dev00", 1, "opened", event="HighCPU", fingerprint="fp_cpu", alert_id="alr_cpu")
    )
    assert cpu.symptom_of == parent and not cpu.notify
    [edge] = decided(n, change("edge1", 1, "opened", minutes=1))
    assert edge.notify and edge.symptom_of is None


def test_once_the_router_recovers_later_changes_are_notified_and_nothing_is_sent_again_meanwhile() -> None:
    n = notifier()
    decided(n, change("core", 1, "opened"), change("dev00", 1, "opened"), change("dev01", 1, "opened"))
    [resolved] = decided(n, change("core", 2, "resolved", minutes=5))
    assert resolved.notify and resolved.kind == "resolved" and resolved.symptom_of is None
    assert set(n.dependencies.down) == {"alr_dev00", "alr_dev01"}  # down themselves, no longer behind it
    # No retro notification of the symptoms still firing: their next change is decided un-muted.
    [again] = decided(n, change("dev00", 2, "severity_changed", minutes=6, severity="major"))
    assert again.notify and again.symptom_of is None and [d.receiver for d in again.deliveries] == ["hook"]
    # A symptom's resolve was never announced, so nothing is resolved.
    assert decided(n, change("dev01", 2, "resolved", minutes=7)) == []


def test_a_resolve_of_the_symptom_cause_is_kept_when_undecided_and_the_state_rebuilds_from_the_log() -> None:
    n = notifier()
    args = {
        "matchers": [{"name": "resource", "op": "=", "value": "core"}],
        "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(hours=1)).isoformat(),
        "comment": "works",
    }
    cmd = Command(name="silence.create", target="sil_c", actor="al", args=args, occurred_at=T0)
    n.apply_suppressions(Suppressions().batch([Suppressions().apply(cmd, "commands:0", 0).change]))
    batches = [n.batch(decided(n, change("core", 1, "opened"), change("dev00", 1, "opened")))]
    assert [(d.alert_id, d.notify, bool(d.symptom_of)) for d in batches[0].decisions] == [
        ("alr_core", False, False),  # silenced, yet down: what sits behind it is still its symptom
        ("alr_dev00", False, True),
    ]
    restored = notifier()
    restored.restore(batches)
    assert decided(restored, change("dev01", 1, "opened"))[0].symptom_of["alert_id"] == "alr_core"
    # The silenced router resolves undecided (nothing was announced): listed as ended, it is no
    # longer down, live and after a restart.
    assert decided(n, change("core", 2, "resolved", minutes=5)) == []
    batches.append(n.batch([]))
    assert batches[-1].ended == {"alr_core": 2}
    again = notifier()
    again.restore(batches)
    for stage in (n, again):
        [d] = decided(stage, change("dev02", 1, "opened", minutes=6))
        assert d.notify and d.symptom_of is None


def test_no_symptom_across_tenants_without_pollers_or_for_the_down_device_itself() -> None:
    n = notifier()
    decided(n, change("core", 1, "opened", tenant="acme"))
    [other] = decided(n, change("dev00", 1, "opened", tenant="globex"))
    assert other.notify and other.symptom_of is None
    [same] = decided(n, change("dev01", 1, "opened", tenant="acme"))
    assert same.symptom_of is not None
    blind = notifier([a for a in network() if a.name != "noc"])  # no poller: nothing known cut off
    [root, dev] = decided(blind, change("core", 1, "opened"), change("dev00", 1, "opened"))
    assert root.notify and dev.notify and dev.symptom_of is None


def test_decide_lists_the_down_device_after_inhibitions_and_before_flapping() -> None:
    parent = SymptomOf("alr_r", "ast_r", "r1", "NodeDown")
    decision, _ = decide({"alert_id": "a", "severity": "major"}, T0, NoiseRules(), symptom_of=parent)
    assert not decision.notify and decision.symptom_of == parent
    assert decision.reasons == ("symptom of alert alr_r: reached only through r1 (NodeDown), which is down",)
    assert parent.to_dict() == {
        "alert_id": "alr_r",
        "asset_id": "ast_r",
        "resource": "r1",
        "event": "NodeDown",
    }


def window(scope: dict) -> Command:
    args = {
        "title": "site works",
        "scope": scope,
        "schedule": {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat()},
    }
    return Command(name="window.create", target="mw_a", actor="al", args=args, occurred_at=T0)


def test_windows_scoped_by_asset_tags_business_services_or_sites_match_on_the_alerts_asset() -> None:
    facts = {"tags": ["rack7"], "business_service": "checkout", "location": "fra1"}
    assets = [asset("web1", **facts), asset("web2", location="ams1")]
    for scope in ({"asset_tags": ["rack7"]}, {"business_services": ["checkout"]}, {"sites": ["fra1"]}):
        n = notifier(assets)
        n.apply_suppressions(
            Suppressions().batch([Suppressions().apply(window(scope), "commands:0", 0).change])
        )
        inside, outside, unknown = decided(
            n, change("web1", 1, "opened"), change("web2", 1, "opened"), change("ghost", 1, "opened")
        )
        assert (inside.notify, inside.suppressed_by) == (False, ["mw_a"]), scope
        assert outside.notify and unknown.notify, scope
    # Matchers on asset facts too, and a snapshot read later replaces the facts.
    n = notifier(assets)
    scope = {"matchers": [{"name": "asset.site", "op": "=", "value": "ams1"}]}
    n.apply_suppressions(Suppressions().batch([Suppressions().apply(window(scope), "commands:0", 0).change]))
    n.apply_asset(asset("web2", location="fra1"))
    assert decided(n, change("web2", 1, "opened"))[0].notify


def test_dependencies_keep_the_highest_version_whatever_the_order() -> None:
    deps = Dependencies()
    down = {"asset_id": "ast_core", "event": "NodeDown", "status": "open", "resource": "core"}
    deps.see("alr_core", 2, {**down, "status": "resolved"}, firing=False)
    deps.see("alr_core", 1, down, firing=True)  # older: ignored
    assert deps.down == {}
    deps.see("alr_x", 1, {**down, "event": "HighCPU"}, firing=True)  # not a down event
    deps.see("alr_y", 1, {**down, "asset_id": None}, firing=True)  # on no asset
    assert deps.down == {} and not deps.stop("alr_x", 2)
    deps.see("alr_core", 3, down, firing=True)
    assert set(deps.down) == {"alr_core"} and not deps.stop("alr_core", 3) and deps.stop("alr_core", 4)


def stepped(n: Notifier, *changes: AlertChanged) -> list[NotificationDecided]:
    return [d for c in changes for d in n.step(c)]


def test_symptoms_still_firing_when_the_router_recovers_are_notified_once_then() -> None:
    n = notifier()
    opened = [change("core", 1, "opened"), *[change(d, 1, "opened") for d in DEVICES[:3]]]
    batches = [n.batch(stepped(n, *opened))]
    batches.append(n.batch(stepped(n, change("dev02", 2, "resolved", minutes=3))))  # gone before: let go
    made = stepped(n, change("core", 2, "resolved", minutes=5))
    assert [(d.alert_id, d.kind, d.surfaced) for d in made] == [
        ("alr_core", "resolved", None),
        ("alr_dev00", "firing", "symptom:alr_core"),
        ("alr_dev01", "firing", "symptom:alr_core"),
    ]
    surfaced = made[1]
    assert surfaced.notify and surfaced.occurred_at == T0 + timedelta(minutes=5)  # at the recovery
    assert [d.key for d in surfaced.deliveries] == ["alr_dev00:1:symptom:alr_core:hook"]
    batches.append(n.batch(made))
    held = NotificationBatch.model_validate_json(batches[0].model_dump_json()).muted  # the schema takes it
    assert [(m.alert_id, m.due) for m in held] == [(f"alr_{d}", HELD) for d in DEVICES[:3]]
    # Nothing more at a later time, live or after a restart rebuilt from the batches.
    assert n.advance(T0 + timedelta(hours=1)) == []
    again = notifier()
    again.restore(batches)
    assert again.advance(T0 + timedelta(hours=1)) == [] and again.surfacer.muted == {}


def test_a_symptom_whose_window_ends_while_the_router_is_still_down_stays_muted() -> None:
    n = notifier()
    args = {
        "title": "dev00 work",
        "scope": {"asset_ids": ["ast_dev00"]},
        "schedule": {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=10)).isoformat()},
    }
    cmd = Command(name="window.create", target="mw_d", actor="al", args=args, occurred_at=T0)
    n.apply_suppressions(Suppressions().batch([Suppressions().apply(cmd, "commands:0", 0).change]))
    stepped(n, change("core", 1, "opened"), change("dev00", 1, "opened", minutes=1))
    assert n.advance(T0 + timedelta(minutes=20)) == []  # the window ended; the router is still down
    made = stepped(n, change("core", 2, "resolved", minutes=30))
    assert [(d.alert_id, d.surfaced) for d in made[1:]] == [("alr_dev00", "symptom:alr_core")]
