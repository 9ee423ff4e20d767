"""The root-cause feedback read model from `incident.root_cause` commands on `ems.commands`
(infra/migrations/018_rca_feedback.sql).

The API checked the feedback against the incident before appending (`ems.ml.rca.feedback`), so the
commands are projected directly, one row each (a re-applied command is the same row); other
commands: no rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from ems.ml.rca.feedback import COMMAND
from ems.projections.base import Row, Upsert
from ems.schemas.command import Command

COLUMNS = (
    "command_id",
    "incident_id",
    "tenant",
    "asset_id",
    "alert_id",
    "verdict",
    "comment",
    "model",
    "model_asset_id",
    "actor",
    "at",
)


class RcaFeedbackProjection:
    """Command -> incident_rca_feedback."""

    name = "rca_feedback"
    topic = "commands"
    record_type = Command
    feedback = Upsert("incident_rca_feedback", COLUMNS, conflict=("command_id",))
    upserts = (feedback,)

    def rows(self, record: Command) -> Iterable[tuple[Upsert, Row]]:
        if record.name != COMMAND:
            return
        a = record.args
        yield (
            self.feedback,
            (
                record.event_id,
                record.target,
                a.get("tenant"),
                a["asset_id"],
                a.get("alert_id"),
                a["verdict"],
                a.get("comment", ""),
                a.get("model"),
                a.get("model_asset_id"),
                record.actor,
                record.occurred_at,
            ),
        )
