"""The asset registry core: command validation against state, discovery merge, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.assets import Outcome, apply_command, apply_discovery
from ems.projections.assets import AssetsProjection
from ems.schemas.asset import Asset, UpdateArgs
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import Observation
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
RTR = asset_id_for("device:core-rtr-1")
SW = asset_id_for("device:sw-1")


def cmd(command: str, asset: str = "ast_app1", seconds: int = 0, **args: object) -> Command:
    return Command(
        name=command,
        target=asset,
        actor="ops",
        reason="test",
        args=args,
        occurred_at=T0 + timedelta(seconds=seconds),
    )


def discovery(seconds: int = 0, edges: list | None = None, **facts: object) -> Observation:
    facts = {"natural_key": "device:core-rtr-1", "name": "core-rtr-1", "type": "router", **facts}
    return Observation(
        source="nms",
        asset_id=asset_id_for(facts["natural_key"]),
        occurred_at=T0 + timedelta(seconds=seconds),
        body={"kind": "discovery", "facts": facts, "edges": edges or []},
    )


class Registry:
    """Applies inputs in order, like the stage does, keeping the state per asset."""

    def __init__(self) -> None:
        self.state: dict[str, Asset] = {}
        self.offsets: dict[str, int] = {}
        self.refused: list[str] = []

    def _take(self, out: Outcome) -> Outcome:
        if out.refused:
            self.refused.append(out.refused)
        if out.change is not None:
            self.state[out.change.asset.asset_id] = out.change.asset
        return out

    def command(self, c: Command, offset: int | None = None) -> Outcome:
        offset = self._next("commands:0", offset)
        return self._take(apply_command(self.state.get(c.target), c, "commands:0", offset))

    def discover(self, o: Observation, offset: int | None = None, resolution: float = 300) -> Outcome:
        offset = self._next("raw:0", offset)
        return self._take(apply_discovery(self.state.get(o.asset_id), o, "raw:0", offset, resolution))

    def _next(self, source: str, offset: int | None) -> int:
        if offset is None:
            offset = self.offsets.get(source, -1) + 1
        self.offsets[source] = max(self.offsets.get(source, -1), offset)
        return offset


def test_create_then_update_link_unlink_retire() -> None:
    r = Registry()
    out = r.command(
        cmd("asset.create", name="app1", type="application", criticality=4, business_service="pay")
    )
    assert out.change.kind == "created" and out.change.asset.version == 1
    assert out.change.event_id == "ast_app1:1" and out.change.actor == "ops"
    a = r.state["ast_app1"]
    assert (a.name, a.type, a.criticality, a.lifecycle, a.pinned) == (
        "app1",
        "application",
        4,
        "active",
        ["name", "type"],
    )
    r.command(cmd("asset.update", seconds=1, owner_team="payments", tags=["pci"]))
    r.command(cmd("asset.link", seconds=2, type="runs_on", target="ast_vm1"))
    assert [(e.type, e.target, e.origin) for e in r.state["ast_app1"].edges] == [
        ("runs_on", "ast_vm1", "operator")
    ]
    out = r.command(cmd("asset.unlink", seconds=3, type="runs_on", target="ast_vm1"))
    assert out.change.removed_edges[0].target == "ast_vm1" and not r.state["ast_app1"].edges
    out = r.command(cmd("asset.retire", seconds=4))
    a = r.state["ast_app1"]
    assert (a.lifecycle, a.version, a.owner_team, a.tags) == ("retired", 5, "payments", ["pci"])
    assert not r.refused


@pytest.mark.parametrize(
    ("setup", "command", "reason"),
    [
        ([], cmd("asset.update", name="x"), "unknown asset ast_app1"),
        ([], cmd("asset.retire"), "unknown asset"),
        (
            [cmd("asset.create", name="a", type="vm")],
            cmd("asset.create", name="a", type="vm"),
            "already exists",
        ),
        (
            [cmd("asset.create", name="a", type="vm"), cmd("asset.retire")],
            cmd("asset.update", name="b"),
            "retired",
        ),
        (
            [cmd("asset.create", name="a", type="vm")],
            cmd("asset.unlink", type="runs_on", target="ast_x"),
            "no runs_on",
        ),
        (
            [cmd("asset.create", name="a", type="vm")],
            cmd("asset.link", type="runs_on", target="ast_app1"),
            "itself",
        ),
        ([cmd("asset.create", name="a", type="vm")], cmd("asset.update", criticality=9), "criticality"),
        ([], cmd("asset.create", name="a"), "type: Field required"),
        ([], cmd("asset.create", name="a", type="vm", natural_key="device:x"), "is not the id of"),
        ([], cmd("asset.explode"), "unknown asset command"),
    ],
)
def test_refusals_carry_a_precise_reason(setup: list[Command], command: Command, reason: str) -> None:
    r = Registry()
    for c in setup:
        assert r.command(c).change is not None
    out = r.command(command)
    assert out.change is None and out.refused and reason in out.refused


def test_update_null_clears_and_unpins() -> None:
    r = Registry()
    r.command(cmd("asset.create", asset=RTR, natural_key="device:core-rtr-1", name="Core", type="router"))
    r.command(cmd("asset.update", asset=RTR, location="DC1", attributes={"rack": "A1"}))
    assert {"name", "location", "attributes.rack"} <= set(r.state[RTR].pinned)
    args = UpdateArgs.model_validate({"location": None, "attributes": {"rack": None}})
    r.command(cmd("asset.update", asset=RTR, **args.model_dump(mode="json", exclude_unset=True)))
    a = r.state[RTR]
    assert a.location is None and "rack" not in a.attributes and "location" not in a.pinned
    with pytest.raises(ValueError, match="name cannot be cleared"):
        UpdateArgs.model_validate({"name": None})


def test_discovery_creates_then_respects_operator_fields() -> None:
    r = Registry()
    out = r.discover(
        discovery(vendor="Cisco", location="DC1", sysUpTime="5d", addresses=["10.0.0.1"], edges=None),
    )
    a = out.change.asset
    assert out.change.kind == "discovered" and a.asset_id == RTR and a.first_seen == T0 == a.last_seen
    assert (a.name, a.type, a.vendor, a.addresses, a.attributes) == (
        "core-rtr-1",
        "router",
        "Cisco",
        ["10.0.0.1"],
        {"sysUpTime": "5d"},
    )
    # The operator renames it and sets operator-only fields.
    r.command(cmd("asset.update", asset=RTR, name="Core Router", criticality=5, owner_team="neteng"))
    # Rediscovery: discovered fields change except the pinned name; operator fields stay.
    out = r.discover(discovery(seconds=600, vendor="Cisco Systems", location="DC2", sysUpTime="6d"))
    a = out.change.asset
    assert (a.name, a.vendor, a.location, a.criticality, a.owner_team) == (
        "Core Router",
        "Cisco Systems",
        "DC2",
        5,
        "neteng",
    )
    assert a.first_seen == T0 and a.last_seen == T0 + timedelta(seconds=600)


def test_discovery_edges_replace_their_own_and_keep_operator_edges() -> None:
    r = Registry()
    r.discover(discovery(edges=[{"type": "connected_to", "target": SW, "local_port": "Gi0/1"}]))
    r.command(cmd("asset.link", asset=RTR, type="depends_on", target="ast_dns"))
    assert r.refused == []
    edges = {(e.type, e.target): e for e in r.state[RTR].edges}
    assert edges[("connected_to", SW)].attributes == {"local_port": "Gi0/1"}
    assert edges[("connected_to", SW)].origin == "discovery:nms"
    out = r.discover(discovery(seconds=10, edges=[{"type": "connected_to", "target": "ast_other"}]))
    edges = {(e.type, e.target) for e in out.change.asset.edges}
    assert edges == {("depends_on", "ast_dns"), ("connected_to", "ast_other")}
    assert [(x.type, x.target) for x in out.change.removed_edges] == [("connected_to", SW)]


def test_unchanged_rediscovery_is_published_only_after_the_resolution() -> None:
    r = Registry()
    r.discover(discovery())
    assert r.discover(discovery(seconds=60)).change is None
    assert r.discover(discovery(seconds=301)).change.asset.last_seen == T0 + timedelta(seconds=301)
    assert r.discover(discovery(seconds=100)).change is None, "older than last_seen: ignored"
    assert r.discover(discovery(seconds=302, model="ASR")).change.asset.model == "ASR"


def test_retired_asset_stays_retired_when_rediscovered() -> None:
    r = Registry()
    r.discover(discovery())
    r.command(cmd("asset.retire", asset=RTR))
    a = r.discover(discovery(seconds=900, model="new")).change.asset
    assert (a.lifecycle, a.model) == ("retired", "new")


@pytest.mark.parametrize(
    ("obs", "reason"),
    [
        (discovery(type="Not A Token"), "type"),
        (discovery(edges=[{"type": "likes", "target": SW}]), "type"),
        (discovery(edges=[{"type": "connected_to", "target": RTR}]), "itself"),
    ],
)
def test_bad_discoveries_are_refused(obs: Observation, reason: str) -> None:
    out = Registry().discover(obs)
    assert out.change is None and reason in out.refused


def test_discovery_asset_id_must_match_the_natural_key() -> None:
    obs = discovery().model_copy(update={"asset_id": "ast_wrong"})
    assert "is not asset_id_for" in Registry().discover(obs).refused


def test_change_round_trips_through_the_codec_and_projects() -> None:
    r = Registry()
    r.discover(discovery(edges=[{"type": "connected_to", "target": SW}]))
    out = r.discover(discovery(seconds=5, edges=[]))
    back = decode(encode(out.change), type(out.change))
    assert back == out.change
    rows = list(AssetsProjection().rows(back))
    tables = [u.table for u, _ in rows]
    assert tables == ["assets", "asset_dependencies", "asset_changes"]
    assert rows[1][1][:3] == (RTR, "connected_to", SW) and rows[1][1][5] is False


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("update"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("link"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("retire"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("discover"), st.integers(0, 3)),
    ),
    max_size=20,
)


def _inputs(steps: list) -> list[tuple[str, object]]:
    out = []
    for i, (kind, x) in enumerate(steps):
        if kind == "discover":
            out.append(("raw", discovery(seconds=i * 400, model=f"m{x}")))
            continue
        target = f"ast_{x}"
        args = {
            "create": {"name": x, "type": "vm"},
            "update": {"owner_team": f"t{i}"},
            "link": {"type": "depends_on", "target": "ast_z"},
            "retire": {},
        }[kind]
        out.append(("cmd", cmd(f"asset.{kind}", asset=target, seconds=i, **args)))
    return out


@settings(max_examples=150, deadline=None)
@given(STEPS, st.data())
def test_redelivery_gives_the_state_of_processing_once(steps: list, data: st.DataObject) -> None:
    """Any replay of an already-applied prefix (a crash before commit) changes nothing."""
    inputs = _inputs(steps)
    once = Registry()
    for i, (kind, item) in enumerate(inputs):
        (once.command if kind == "cmd" else once.discover)(item, i)
    again = Registry()
    i = 0
    while i < len(inputs):
        kind, item = inputs[i]
        (again.command if kind == "cmd" else again.discover)(item, i)
        if data.draw(st.booleans()):  # crash: redeliver from an earlier offset
            back = data.draw(st.integers(0, i))
            for j in range(back, i + 1):
                k, it = inputs[j]
                out = (again.command if k == "cmd" else again.discover)(it, j)
                assert out.change is None
        i += 1
    assert again.state == once.state


def test_a_command_retried_by_the_client_applies_once() -> None:
    reg = Registry()
    create = cmd("asset.create", name="app1", type="server")
    update = cmd("asset.update", seconds=1, criticality=4)
    reg.command(create)
    reg.command(update)
    # The client timed out and sent both again: same command ids, appended at new offsets.
    assert reg.command(create).skipped and reg.command(update).skipped
    assert reg.refused == [] and reg.state["ast_app1"].version == 2
    # A new command with the same content is a new change.
    assert reg.command(cmd("asset.update", seconds=2, criticality=4)).change is not None
