"""What the OpenAPI document says and what the API does agree (the disagreements schemathesis found:
tests/integration/test_openapi_conformance.py runs it on a real pipeline)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette

from ems.api.body import as_json
from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.formats import alerta, alertmanager
from ems.api.formats.common import FormatError, Severities
from ems.api.guards import dialect_of_path
from ems.api.routing import PUBLIC, Call, Endpoint, starlette_routes
from ems.api.table import ENDPOINTS, document
from ems.settings import Settings

KEYED = {  # the handlers that call ems.api.idempotency.keyed_write
    "POST /api/v1/events",
    "POST /api/v1/assets",
    "PATCH /api/v1/assets/{asset_id}",
    "DELETE /api/v1/assets/{asset_id}",
    "POST /api/v1/assets/{asset_id}/dependencies",
    "DELETE /api/v1/assets/{asset_id}/dependencies/{type}/{target}",
    "POST /api/v1/alerts/{alert_id}/{action}",
}


def _operations() -> list[tuple[Endpoint, dict[str, Any]]]:
    paths = document()["paths"]
    return [(e, paths[e.path][e.method.lower()]) for e in ENDPOINTS]


def test_idempotency_key_is_documented_on_the_writes_that_honour_it_only() -> None:
    offered = {
        e.id for e, op in _operations() if any(p["name"] == "Idempotency-Key" for p in op["parameters"])
    }
    assert offered == KEYED


def test_public_routes_document_the_401_of_refused_credentials() -> None:
    for e, op in _operations():
        assert "401" in op["responses"], e.id


def test_query_parameters_have_no_null_branch_and_refuse_nul() -> None:
    for e, op in _operations():
        for p in op["parameters"]:
            if p["in"] not in ("query", "path"):
                continue
            schema = p["schema"]
            assert {"type": "null"} not in schema.get("anyOf", []), (e.id, p["name"])
            leaf = schema["items"] if schema.get("type") == "array" else schema
            if leaf.get("type") == "string" and "enum" not in leaf:
                assert not re.search(leaf["pattern"], "a\x00b"), (e.id, p["name"])


def test_path_parameters_carry_their_types() -> None:
    paths = document()["paths"]
    unlink = paths["/api/v1/assets/{asset_id}/dependencies/{type}/{target}"]["delete"]["parameters"]
    schemas = {p["name"]: p["schema"] for p in unlink if p["in"] == "path"}
    assert schemas["type"]["enum"] == ["depends_on", "runs_on", "connected_to", "member_of"]
    assert schemas["asset_id"]["pattern"] == schemas["target"]["pattern"] == "^ast_[A-Za-z0-9_.:-]+$"
    action = paths["/api/v1/alerts/{alert_id}/{action}"]["post"]["parameters"]
    assert "ack" in next(p for p in action if p["name"] == "action")["schema"]["enum"]


def test_documented_query_values_are_what_the_handlers_take() -> None:
    paths = document()["paths"]

    def schema(path: str, name: str) -> dict[str, Any]:
        return next(p["schema"] for p in paths[path]["get"]["parameters"] if p["name"] == name)

    total = schema("/api/v1/alerts", "total")["pattern"]
    assert all(re.match(total, v) for v in ("auto", "EXACT", "true", "false", "none"))
    assert not re.match(total, "sometimes")
    assert schema("/api/v1/metrics/top", "agg")["enum"] == ["avg", "max"]
    assert re.match(schema("/api/v1/events", "sort")["pattern"], "-occurred_at")
    assert not re.match(schema("/api/v1/events", "sort")["pattern"], "")
    assert not re.match(schema("/api/v1/metrics/series", "asset")["pattern"], "  ")
    edge = schema("/api/v1/assets/{asset_id}/upstream", "type")["items"]["pattern"]
    assert re.match(edge, "depends_on, runs_on") and not re.match(edge, "likes")


class Sample(BaseModel):
    at: datetime
    n: int
    flag: bool
    ratio: float
    tags: Annotated[list[str], Field(max_length=2)] = []


GOOD = {"at": "2024-05-01T10:00:00Z", "n": 5, "flag": True, "ratio": 1}


def test_bodies_are_validated_as_the_json_the_document_describes() -> None:
    assert as_json(Sample, GOOD).ratio == 1.0  # an integer is a JSON number
    for bad in ({"at": 0}, {"at": 1.7e9}, {"n": True}, {"n": "5"}, {"n": 1.0}, {"flag": 0}, {"ratio": "1"}):
        with pytest.raises(ValidationError):
            as_json(Sample, {**GOOD, **bad})


def test_alerta_create_time_as_a_number_is_refused_and_value_as_a_number_kept_as_text() -> None:
    severities = Severities.of(Settings().severity_order, Settings().clearing_severities)
    alert = {"resource": "r1", "event": "down", "severity": "major"}
    with pytest.raises(FormatError, match="createTime"):
        alerta.translate({**alert, "createTime": 0}, severities)
    with pytest.raises(FormatError, match="timeout"):
        alerta.translate({**alert, "timeout": False}, severities)
    assert alerta.translate({**alert, "value": 42}, severities).body.value == "42"
    value = document()["components"]["schemas"]["AlertaAlert"]["properties"]["value"]
    assert {"type": "number"} in value["anyOf"]


def test_alertmanager_go_zero_time_is_still_unset_and_a_numeric_time_refused() -> None:
    severities = Severities.of(Settings().severity_order, Settings().clearing_severities)
    hook = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}}]}
    [obs] = alertmanager.translate(
        {**hook, "alerts": [{**hook["alerts"][0], "endsAt": "0001-01-01T00:00:00Z"}]}, severities
    )
    assert obs.occurred_at.year >= 2024
    with pytest.raises(FormatError, match="startsAt"):
        alertmanager.translate({**hook, "alerts": [{**hook["alerts"][0], "startsAt": 1}]}, severities)


def test_the_guard_answers_in_the_dialect_of_the_route() -> None:
    assert dialect_of_path("/api/alerts") == dialect_of_path("/api/alert/x") == "alerta"
    assert dialect_of_path("/v2/enqueue") == "pagerduty"
    assert dialect_of_path("/api/v1/alerts") == dialect_of_path("/nowhere") == "native"


class Note(BaseModel):
    text: str = ""


async def test_a_json_null_body_is_refused_where_the_body_is_optional() -> None:
    async def handler(call: Call) -> dict[str, Any]:
        return {"body": None if call.body is None else call.body.model_dump()}

    route = Endpoint("POST", "/notes", handler, PUBLIC, "notes", body=Note, body_required=False)
    app = Starlette(routes=starlette_routes([route]), exception_handlers=EXCEPTION_HANDLERS)
    app.state.settings = Settings()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        assert (await c.post("/notes")).json() == {"body": None}
        assert (await c.post("/notes", json={"text": "hi"})).json() == {"body": {"text": "hi"}}
        r = await c.post("/notes", content=b"null", headers={"Content-Type": "application/json"})
        assert r.status_code == 422
