"""The asset registry's pure core: commands and discoveries applied to one asset's state.

`apply_command(state, command, source, offset)` and `apply_discovery(state, observation, source,
offset, resolution)` return an `Outcome`: the `AssetChanged` to publish, or a refusal reason (the
wrapper dead-letters it), or nothing (a redelivery, or a discovery that changed nothing new).

Idempotence: every snapshot keeps, per input `topic:partition`, the highest offset applied. All
commands and discoveries of one asset travel on one partition of their topic (keyed by asset id),
so an input at or below that offset was applied before: it is skipped, never applied twice. A
command a client retried (same command id, appended again) is recognised by the digests of the last
`RECENT_COMMANDS` command ids the snapshot keeps, and skipped too.

Merge rule (discovery vs operators): discovery fills `DISCOVERED_FIELDS` and attribute keys, never
`OPERATOR_FIELDS`; a field (or `attributes.<key>`) an operator set is *pinned* and discovery leaves
it alone until an operator clears it (`null` in a PATCH). Discovery replaces the edges it reported
earlier (origin `discovery:<source>`); operator edges are never touched by discovery. A retired asset
stays retired when rediscovered (its facts and last_seen still update).

Tenants: an asset's tenant is set when it is created (the create args', or the discovery's) and never
changes. A discovery of a tenant (one a tenant-bound key sent) is refused on an asset of another
tenant, or of none; a discovery of no tenant may update any asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ems.agents.dedupe import id_digest
from ems.schemas.asset import (
    COMMAND_ARGS,
    DISCOVERED_FIELDS,
    Asset,
    AssetChanged,
    CreateArgs,
    Edge,
    EdgeRef,
    LinkArgs,
    Token,
    UnlinkArgs,
    UpdateArgs,
)
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import DiscoveryBody, Observation

_BOOKKEEPING = {"positions", "recent_commands", "version", "updated_at", "last_seen"}
RECENT_COMMANDS = 32  # command ids remembered per asset, so that a client's retry applies once


@dataclass(frozen=True)
class Outcome:
    """What applying one input gave: a change to publish, a refusal, or nothing."""

    change: AssetChanged | None = None
    refused: str | None = None
    skipped: bool = False


class DiscoveredFacts(BaseModel):
    """`body.facts` of a discovery; keys not named here go into attributes."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    natural_key: str = Field(min_length=1, max_length=512)
    name: str | None = Field(None, max_length=256)
    type: Token | None = None
    vendor: str | None = Field(None, max_length=256)
    model: str | None = Field(None, max_length=256)
    addresses: list[str] = Field(default_factory=list, max_length=64)
    location: str | None = Field(None, max_length=256)
    contact: str | None = Field(None, max_length=256)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=128)


def redelivered(state: Asset | None, source: str, offset: int) -> bool:
    """True when `offset` of input `source` ('topic:partition') was already applied to `state`."""
    return state is not None and state.positions.get(source, -1) >= offset


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(args)'}: {e['msg']}" for e in exc.errors())


def _changed(state: Asset, kind: str, cause: Any, source: str, offset: int, **updates: Any) -> AssetChanged:
    removed = updates.pop("removed_edges", [])
    if isinstance(cause, Command):
        updates["recent_commands"] = [*state.recent_commands, id_digest(cause.event_id)][-RECENT_COMMANDS:]
    asset = state.model_copy(
        update={
            **updates,
            "positions": {**state.positions, source: offset},
            "version": state.version + 1,
            "updated_at": max(state.updated_at, cause.occurred_at),
        }
    )
    actor = cause.actor if isinstance(cause, Command) else cause.source
    reason = cause.reason if isinstance(cause, Command) else ""
    return AssetChanged(
        event_id=f"{asset.asset_id}:{asset.version}",
        occurred_at=cause.occurred_at,
        kind=kind,
        asset=asset,
        removed_edges=removed,
        cause=cause.event_id,
        actor=actor,
        reason=reason,
    )


def apply_command(state: Asset | None, cmd: Command, source: str, offset: int) -> Outcome:
    """Apply one `asset.*` command to the asset's current state (None: unknown asset)."""
    if redelivered(state, source, offset):
        return Outcome(skipped=True)
    if state is not None and id_digest(cmd.event_id) in state.recent_commands:
        return Outcome(skipped=True)  # the same command appended again by a client's retry
    model = COMMAND_ARGS.get(cmd.name)
    if model is None:
        return Outcome(refused=f"unknown asset command {cmd.name!r}; expected one of {sorted(COMMAND_ARGS)}")
    try:
        args = model.model_validate(cmd.args)
    except ValidationError as exc:
        return Outcome(refused=f"{cmd.name} args invalid: {_errors(exc)}")
    target = cmd.target
    if isinstance(args, CreateArgs):
        return _create(state, cmd, args, source, offset)
    if state is None:
        return Outcome(refused=f"{cmd.name}: unknown asset {target}")
    if state.lifecycle == "retired":
        return Outcome(refused=f"{cmd.name}: asset {target} is retired (a retired asset is read-only)")
    if isinstance(args, UpdateArgs):
        return _update(state, cmd, args, source, offset)
    if isinstance(args, LinkArgs):
        if args.target == target:
            return Outcome(refused=f"asset.link: {target} cannot depend on itself")
        edge = Edge(type=args.type, target=args.target, origin="operator", attributes=args.attributes)
        edges = [e for e in state.edges if (e.type, e.target) != (edge.type, edge.target)] + [edge]
        return Outcome(change=_changed(state, "linked", cmd, source, offset, edges=edges))
    if isinstance(args, UnlinkArgs):
        edges = [e for e in state.edges if (e.type, e.target) != (args.type, args.target)]
        if len(edges) == len(state.edges):
            return Outcome(refused=f"asset.unlink: {target} has no {args.type} edge to {args.target}")
        ref = EdgeRef(type=args.type, target=args.target)
        return Outcome(
            change=_changed(state, "unlinked", cmd, source, offset, edges=edges, removed_edges=[ref])
        )
    return Outcome(change=_changed(state, "retired", cmd, source, offset, lifecycle="retired"))


def _create(state: Asset | None, cmd: Command, args: CreateArgs, source: str, offset: int) -> Outcome:
    if state is not None:
        return Outcome(refused=f"asset.create: asset {cmd.target} already exists ({state.lifecycle})")
    if args.natural_key and asset_id_for(args.natural_key) != cmd.target:
        return Outcome(refused=f"asset.create: target {cmd.target} is not the id of {args.natural_key!r}")
    if any(e.target == cmd.target for e in args.dependencies):
        return Outcome(refused=f"asset.create: {cmd.target} cannot depend on itself")
    fields = args.model_dump(exclude={"dependencies"}, exclude_none=True)
    pinned = sorted(f for f in DISCOVERED_FIELDS if f in fields) + sorted(
        f"attributes.{k}" for k in fields.get("attributes", {})
    )
    edges = {(e.type, e.target): e.model_copy(update={"origin": "operator"}) for e in args.dependencies}
    at = cmd.occurred_at
    blank = Asset(
        asset_id=cmd.target, name=args.name, type=args.type, created_at=at, updated_at=at, version=0
    )
    change = _changed(
        blank, "created", cmd, source, offset, **fields, edges=list(edges.values()), pinned=pinned
    )
    return Outcome(change=change)


def _update(state: Asset, cmd: Command, args: UpdateArgs, source: str, offset: int) -> Outcome:
    named = args.model_fields_set
    if "natural_key" in named and args.natural_key != state.natural_key:
        return Outcome(refused=f"asset.update: the natural key of {state.asset_id} cannot change")
    updates: dict[str, Any] = {}
    pinned = set(state.pinned)
    for field in named - {"natural_key", "attributes"}:
        value = getattr(args, field)
        updates[field] = [] if value is None and field in ("addresses", "tags") else value
        if field in DISCOVERED_FIELDS:
            (pinned.add if value is not None else pinned.discard)(field)
    if "attributes" in named:
        attributes = dict(state.attributes)
        for key, value in (args.attributes or {}).items():
            if value is None:
                attributes.pop(key, None)
                pinned.discard(f"attributes.{key}")
            else:
                attributes[key] = value
                pinned.add(f"attributes.{key}")
        updates["attributes"] = attributes
    return Outcome(change=_changed(state, "updated", cmd, source, offset, **updates, pinned=sorted(pinned)))


def apply_discovery(
    state: Asset | None, obs: Observation, source: str, offset: int, resolution: float
) -> Outcome:
    """Upsert the asset a discovery observation describes (see the merge rule above).

    An unchanged rediscovery publishes nothing unless `last_seen` advances by `resolution` seconds.
    """
    if redelivered(state, source, offset):
        return Outcome(skipped=True)
    body = obs.body
    assert isinstance(body, DiscoveryBody)
    try:
        facts = DiscoveredFacts.model_validate(body.facts)
        edges = [_discovered_edge(e, obs.source) for e in body.edges]
    except (ValidationError, ValueError) as exc:
        why = _errors(exc) if isinstance(exc, ValidationError) else str(exc)
        return Outcome(refused=f"discovery invalid: {why}")
    asset_id = asset_id_for(facts.natural_key)
    if obs.asset_id != asset_id:
        return Outcome(
            refused=f"discovery asset_id {obs.asset_id!r} is not asset_id_for({facts.natural_key!r})"
        )
    if state is not None and obs.tenant is not None and obs.tenant != state.tenant:
        return Outcome(refused=f"discovery of tenant {obs.tenant!r}: asset {asset_id} is not of that tenant")
    if asset_id in {e.target for e in edges}:
        return Outcome(refused=f"discovery: {asset_id} has an edge to itself")
    found = {f: getattr(facts, f) for f in DISCOVERED_FIELDS if getattr(facts, f) not in (None, [])}
    attributes = {**facts.attributes, **(facts.model_extra or {})}
    at = obs.occurred_at
    if state is None:
        state = Asset(
            asset_id=asset_id,
            name=facts.name or facts.natural_key,
            type=facts.type or "unknown",
            tenant=obs.tenant,
            created_at=at,
            updated_at=at,
            version=0,
        )
    elif state.last_seen is not None and at < state.last_seen:
        return Outcome()  # older than what we know: the newer facts stand
    updates: dict[str, Any] = {f: v for f, v in found.items() if f not in state.pinned}
    updates["attributes"] = {
        **state.attributes,
        **{k: v for k, v in attributes.items() if f"attributes.{k}" not in state.pinned},
    }
    origin = f"discovery:{obs.source}"
    operator = {(e.type, e.target) for e in state.edges if e.origin != origin}
    new_edges = {(e.type, e.target): e for e in edges if (e.type, e.target) not in operator}
    updates["edges"] = [e for e in state.edges if e.origin != origin] + list(new_edges.values())
    removed = [
        EdgeRef(type=e.type, target=e.target)
        for e in state.edges
        if e.origin == origin and (e.type, e.target) not in new_edges
    ]
    updates.update(natural_key=facts.natural_key, first_seen=state.first_seen or at, last_seen=at)
    candidate = state.model_copy(update=updates)
    same = candidate.model_dump(exclude=_BOOKKEEPING) == state.model_dump(exclude=_BOOKKEEPING)
    if same and state.last_seen is not None and (at - state.last_seen).total_seconds() < resolution:
        return Outcome()
    return Outcome(
        change=_changed(state, "discovered", obs, source, offset, **updates, removed_edges=removed)
    )


def _discovered_edge(raw: dict[str, str], source: str) -> Edge:
    extras = {k: v for k, v in raw.items() if k not in ("type", "target")}
    return Edge(
        type=raw.get("type"), target=raw.get("target"), origin=f"discovery:{source}", attributes=extras
    )
