"""The synthetic checks read model from `check.*` commands on `ems.commands`
(infra/migrations/016_synthetic_checks.sql).

No stage owns checks' state: the API validated the definition before appending (`CheckSpec`), so the
commands are projected directly. `check.create` writes the row (version 1), `check.delete` marks it
deleted (version 2, carrying the definition so the row stays whole); other commands: no rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.command import Command

COLUMNS = (
    "check_id",
    "name",
    "tenant",
    "spec",
    "created_by",
    "created_at",
    "deleted_at",
    "deleted_by",
    "version",
)


class SyntheticChecksProjection:
    """Command -> synthetic_checks."""

    name = "synthetic_checks"
    topic = "commands"
    record_type = Command
    check = Upsert("synthetic_checks", COLUMNS, conflict=("check_id",), version="version")
    upserts = (check,)

    def rows(self, record: Command) -> Iterable[tuple[Upsert, Row]]:
        if record.name not in ("check.create", "check.delete"):
            return
        a = record.args
        spec = a["spec"]
        if record.name == "check.create":
            row = (
                record.target,
                spec["name"],
                a.get("tenant"),
                Jsonb(spec),
                record.actor,
                record.occurred_at,
            )
            yield self.check, (*row, None, None, 1)
        else:
            row = (
                record.target,
                spec["name"],
                a.get("tenant"),
                Jsonb(spec),
                a["created_by"],
                a["created_at"],
            )
            yield self.check, (*row, record.occurred_at, record.actor, 2)
