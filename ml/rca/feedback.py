"""Operator feedback on root causes (docs/rca.md): the checks of an `incident.root_cause` command and
the labels a retrain takes from those commands. Pure: no Kafka, no database.

An operator either **confirms** the asset the model named (or, without a model verdict, the topology
root), or **corrects** it with another asset of the incident: a member's asset or one of the
model's candidates. Either way the asset is the incident's true root cause: a label in the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COMMAND = "incident.root_cause"
VERDICTS = ("confirm", "correct")


@dataclass(frozen=True)
class Problem:
    """Why a feedback command is refused: the field and the reason (a 422)."""

    field: str
    reason: str


def check_feedback(
    asset_id: str, alert_id: str | None, verdict: str, incident: dict[str, Any], alerts: dict[str, str | None]
) -> Problem | None:
    """The first problem of a feedback on `incident` (its read-model row: `assets`, `rca`,
    `root_asset_id`), whose member alerts (current and former) map alert id -> asset id; None if fine."""
    rca = incident.get("rca") or {}
    named = rca.get("asset_id") or incident.get("root_asset_id")
    allowed = set(incident.get("assets") or ()) | {c["asset_id"] for c in rca.get("candidates") or ()}
    if named:
        allowed.add(named)
    if asset_id not in allowed:
        why = f"{asset_id!r} is neither a member's asset nor a candidate of the incident"
        return Problem("asset_id", why)
    if verdict == "confirm" and asset_id != named:
        what = f"the model named {named!r}" if named else "the incident has no root cause to confirm"
        return Problem("verdict", f"confirm names the asset already named, but {what}: use 'correct'")
    if alert_id is not None:
        if alert_id not in alerts:
            return Problem("alert_id", f"{alert_id!r} is not an alert of the incident")
        if alerts[alert_id] != asset_id:
            why = f"{alert_id!r} is an alert of {alerts[alert_id]!r}, not of {asset_id!r}"
            return Problem("alert_id", why)
    return None


@dataclass(frozen=True)
class Label:
    """An incident's root cause as the operators last gave it."""

    incident_id: str
    asset_id: str
    verdict: str
    actor: str
    at: datetime


def labels_from(commands: Iterable[Any]) -> dict[str, Label]:
    """The latest feedback per incident (by command time; the later in the log on a tie) from a stream
    of `Command`s; other commands are ignored."""
    out: dict[str, Label] = {}
    for cmd in commands:
        if cmd.name != COMMAND or "asset_id" not in cmd.args:
            continue
        kept = out.get(cmd.target)
        if kept is None or cmd.occurred_at >= kept.at:
            verdict = cmd.args.get("verdict", "correct")
            out[cmd.target] = Label(cmd.target, cmd.args["asset_id"], verdict, cmd.actor, cmd.occurred_at)
    return out
