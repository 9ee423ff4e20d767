"""Schema registry: which model reads which `type`, and the upcasters from old versions.

Old versions are never edited. A record written as `type` v1 is read by applying, in order, the
upcasters registered for (type, 1), (type, 2), ... until it reaches the current version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ems.schemas.alert import AlertChanged, AlertChangedBatch
from ems.schemas.alert_command import AlertCommand, Tick
from ems.schemas.asset import AssetChanged
from ems.schemas.command import Command
from ems.schemas.deadletter import DeadLetter
from ems.schemas.envelope import Record
from ems.schemas.event import Event, EventBatch
from ems.schemas.heartbeat import HeartbeatBatch, HeartbeatChanged
from ems.schemas.incident import IncidentBatch, IncidentChanged
from ems.schemas.model_registry import ModelActivated, ModelPublished
from ems.schemas.notification import NotificationAttempt, NotificationBatch, NotificationDecided
from ems.schemas.observation import Observation
from ems.schemas.span import SpanBatch
from ems.schemas.suppression import SuppressionBatch, SuppressionChanged
from ems.schemas.ticket import TicketBatch, TicketChanged

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

MODELS: dict[str, type[Record]] = {
    m.TYPE: m
    for m in (
        Observation,
        Event,
        EventBatch,
        AlertChanged,
        AlertChangedBatch,
        DeadLetter,
        Command,
        AlertCommand,
        Tick,
        AssetChanged,
        IncidentChanged,
        IncidentBatch,
        TicketChanged,
        TicketBatch,
        SuppressionChanged,
        SuppressionBatch,
        HeartbeatChanged,
        HeartbeatBatch,
        NotificationDecided,
        NotificationAttempt,
        NotificationBatch,
        SpanBatch,
        ModelPublished,
        ModelActivated,
    )
}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a `type_` v`from_version` dict into v`from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_, from_version)] = fn
        return fn

    return register


@upcaster("observation", 1)
def observation_v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    """v1 was the flat event of the first API (`source, severity, title, asset_id, metadata`).

    v2 wraps the event fields in a `body` discriminated by `kind`, so metrics, discoveries and
    heartbeats can share the topic. The v1 title doubles as the event name.
    """
    known = {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "source",
        "severity",
        "title",
        "asset_id",
        "assetId",
        "metadata",
        "resource",
        "event",
        "text",
        "environment",
    }
    unknown = sorted(set(old) - known)
    if unknown:
        raise ValueError(f"observation v1 has unknown fields: {', '.join(unknown)}")
    title = old.get("title") or ""
    body = {
        "kind": "event",
        "event": old.get("event") or title,
        "severity": old.get("severity"),
        "title": title,
        "text": old.get("text") or "",
        "resource": old.get("resource"),
        "attributes": old.get("metadata") or {},
    }
    if old.get("environment"):
        body["environment"] = old["environment"]
    new = {
        "type": "observation",
        "schema_version": 2,
        "source": old.get("source"),
        "asset_id": old.get("asset_id", old.get("assetId")),
        "body": body,
    }
    for field in ("event_id", "occurred_at"):
        if field in old:
            new[field] = old[field]
    return new


@upcaster("observation", 2)
def observation_v2_to_v3(old: dict[str, Any]) -> dict[str, Any]:
    """v3 added the optional `tenant`: a v2 observation belongs to no tenant (its alert keeps the
    fingerprint it had, so a replay of older records rebuilds the same alerts)."""
    if "tenant" in old:
        raise ValueError("observation v2 has no tenant field; send schema_version 3")
    return {**old, "schema_version": 3, "tenant": None}


@upcaster("incident_changed", 1)
def incident_changed_v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    """v2 adds the model's root-cause ranking (`incident.rca`); a v1 decision has none."""
    return {**old, "schema_version": 2}


@upcaster("incident_batch", 1)
def incident_batch_v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    """v2 holds v2 changes: each v1 change is upcast with it."""
    changes = [
        incident_changed_v1_to_v2(c) if c.get("schema_version") == 1 else c for c in old.get("changes", [])
    ]
    return {**old, "schema_version": 2, "changes": changes}


@upcaster("incident_batch", 2)
def incident_batch_v2_to_v3(old: dict[str, Any]) -> dict[str, Any]:
    """v3 adds the online model's labels; a v2 step took none (its stage re-read every command)."""
    return {**old, "schema_version": 3}


def upcast(data: dict[str, Any]) -> Record:
    """Validate a decoded dict as the current version of its `type`, upcasting old versions."""
    type_ = data.get("type")
    model = MODELS.get(type_) if isinstance(type_, str) else None
    if model is None:
        raise ValueError(f"unknown record type {type_!r}; expected one of {sorted(MODELS)}")
    version = data.get("schema_version", model.VERSION)
    if not isinstance(version, int) or version < 1 or version > model.VERSION:
        raise ValueError(f"{type_} schema_version {version!r} is not between 1 and {model.VERSION}")
    while version < model.VERSION:
        step = UPCASTERS.get((type_, version))
        if step is None:
            raise ValueError(f"no upcaster from {type_} v{version}")
        data = step(data)
        version = data["schema_version"]
    return model.model_validate(data)
