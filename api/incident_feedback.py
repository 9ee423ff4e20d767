"""`POST /api/v1/incidents/{incident_id}/root-cause`: an operator confirms or corrects the root cause
(docs/rca.md). Appended as an `incident.root_cause` command on `ems.commands` with the caller as its
actor (202); `?wait=S` answers once the `incident_rca_feedback` read model shows it (200). Checked
against the incident's read model before anything is appended: an unknown incident is a 404, an asset
that is neither a member's nor a candidate, a confirm of another asset than the one named, or an alert
not of the incident or of another asset a 422 naming the field (`ems.ml.rca.feedback`).
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from ems.api.errors import ApiError
from ems.api.incidents import incident_of
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.waiting import WaitQuery, poll
from ems.ml.rca.feedback import COMMAND, check_feedback
from ems.schemas.command import Command


class RootCauseFeedback(BaseModel):
    """The operator's root cause of the incident."""

    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(min_length=1, max_length=128, description="a member's asset or a candidate")
    alert_id: str | None = Field(None, min_length=1, max_length=128, description="its alert, if any")
    verdict: Literal["confirm", "correct"] = Field(
        description="confirm: the asset the model named is right; correct: this asset is"
    )
    comment: str = Field("", max_length=2048)


class FeedbackAnswer(BaseModel):
    status: Literal["accepted", "applied"]
    command_id: str
    incident_id: str


async def post_root_cause(call: Call) -> Any:
    incident_id = call.path["incident_id"]
    body: RootCauseFeedback = call.body
    found = await incident_of(call)
    incident = found["incident"]
    alerts = {m["alert_id"]: m["asset_id"] for m in found["members"] + found["former_members"]}
    problem = check_feedback(body.asset_id, body.alert_id, body.verdict, incident, alerts)
    if problem is not None:
        raise ApiError(422, problem.reason, [{"field": problem.field, "message": problem.reason}])
    rca = incident["rca"] or {}
    args = {
        **body.model_dump(),
        "tenant": incident["tenant"],
        "model": rca.get("model"),
        "model_asset_id": rca.get("asset_id"),
    }
    cmd = Command(name=COMMAND, target=incident_id, actor=call.actor, args=args)
    await call.state.appender.append(call.settings.topic("commands"), [cmd])
    answer = {"status": "accepted", "command_id": cmd.event_id, "incident_id": incident_id}
    wait = call.query.wait if call.query is not None else 0.0
    if wait:

        async def look(conn: Any) -> Any:
            cur = conn.cursor(row_factory=dict_row)
            q = "SELECT 1 FROM incident_rca_feedback WHERE command_id = %s"
            return await (await cur.execute(q, (cmd.event_id,))).fetchone()

        if await poll(call.state.pool, look, wait) is not None:
            return JSON({**answer, "status": "applied"}, status_code=200)
    return JSON(answer, status_code=202)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/incidents/{incident_id}/root-cause",
        post_root_cause,
        permission="write:incidents",
        summary="Confirm or correct the incident's root cause (a label for retraining)",
        description="Appended as an `incident.root_cause` command (202); with `?wait=S` answered once "
        "the incident shows it in `rca_feedback` (200). `ems retrain --log` learns from it.",
        body=RootCauseFeedback,
        query=WaitQuery,
        response=FeedbackAnswer,
        status=202,
        responses={
            200: "applied (with ?wait)",
            404: "no such incident",
            422: "a bad field: an asset not of the incident, a confirm of another asset, a foreign alert",
        },
        tags=("incidents",),
    ),
]
