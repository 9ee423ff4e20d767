"""The API edge: JSON bodies, the ingest models and the format translators refuse what PostgreSQL
would (NUL, out-of-range numbers and years, over-long text) with a 4xx naming the field."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from ems.api import alert_actions
from ems.api.body import parse_json
from ems.api.errors import EXCEPTION_HANDLERS, ApiError
from ems.api.formats import alerta, alertmanager, pagerduty
from ems.api.formats.common import FormatError
from ems.api.routing import starlette_routes
from ems.api.security.principal import ROLE_PERMISSIONS, Principal
from ems.schemas.limits import NUL_MESSAGE
from ems.settings import Settings
from tests.unit.formats_helpers import SEVERITIES, sample
from tests.unit.helpers import parse_observations

KNOWN = {"critical", "warning", "ok"}
GOOD = {"source": "nms", "severity": "critical", "title": "Device Unreachable", "assetId": "ast_router_01"}


# -- JSON bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"resource": "a\\u0000b"}', ["resource"]),
        (b'[{"a": 1}, {"tags": ["ok", "x\\u0000"]}]', ["[1].tags[1]"]),
        (
            b'{"attributes": {"k\\u0000": {"deep": ["\\u0000"]}}}',
            ["attributes.k\\u0000", "attributes.k\\u0000.deep[0]"],
        ),
        (b'{"comment": "\\u0000", "by": "\\u0000"}', ["comment", "by"]),
    ],
)
def test_a_nul_anywhere_in_a_body_is_422_naming_each_place(body: bytes, fields: list[str]) -> None:
    with pytest.raises(ApiError) as err:
        parse_json(body)
    assert err.value.status == 422
    assert err.value.errors == [{"field": f, "message": NUL_MESSAGE} for f in fields]


def test_an_escaped_backslash_is_not_a_nul() -> None:
    assert parse_json(b'{"path": "C:\\\\u0000"}') == {"path": "C:\\u0000"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"title": "caf\xe9"}', "request body is not valid UTF-8: byte 0xe9 at offset 14"),
        (b'{"title": "\xed\xa0\x80"}', "request body is not valid UTF-8: byte 0xed at offset 11"),
        (b'{"title": "\\ud800"}', "invalid JSON: no low surrogate"),
        (b'{"title": "a\x00b"}', "invalid JSON: unexpected control character"),
    ],
)
def test_bad_utf8_and_raw_control_characters_are_400(body: bytes, reason: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_json(body)
    assert err.value.status == 400 and err.value.reason.startswith(reason)


# -- POST /api/v1/events -----------------------------------------------------------------------------


def _refused(payload: Any) -> list[dict[str, str]]:
    with pytest.raises(ApiError) as err:
        parse_observations(payload, KNOWN)
    assert err.value.status == 422
    return err.value.errors


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"resource": "a\x00b"}, "resource", NUL_MESSAGE),
        ({"title": "\ud800"}, "title", "no lone UTF-16 surrogates"),
        ({"title": "x" * 1025}, "title", "at most 1024 characters"),
        ({"severity": "c" * 65}, "severity", "at most 64 characters"),
        ({"tags": ["t" * 129]}, "tags.0", "at most 128 characters"),
        ({"service": ["s\x00"]}, "service.0", NUL_MESSAGE),
        ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at", "greater than or equal to 1970-01-01"),
        ({"occurredAt": "9999-12-31T23:59:59Z"}, "occurredAt", "less than 2100-01-01"),
        ({"metadata": {"a": {"b": "\x00"}}}, "metadata", f"{NUL_MESSAGE} at a.b"),
        ({"attributes": {"big": "x" * 70_000}}, "attributes", "at most 65536 bytes of JSON"),
        ({"source": ["nms"]}, "source", "Input should be a valid string"),
    ],
)
def test_native_events_refuse_each_boundary(fields: dict, field: str, message: str) -> None:
    [error] = _refused({**GOOD, **fields})
    assert error["field"] == field and message in error["message"]


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        (
            {"body": {"kind": "metrics", "samples": [{"name": "cpu", "value": "NaN"}]}},
            "body.metrics.samples.0.value",
            "valid number",  # JSON has no NaN: the string "NaN" is not a number
        ),
        (
            {"body": {"kind": "event", "event": "E", "severity": "ok", "timeout": 3_000_000_000}},
            "body.event.timeout",
            "less than or equal to 31536000",
        ),
        (
            {"body": {"kind": "heartbeat"}, "occurred_at": "9999-01-01T00:00:00Z"},
            "occurred_at",
            "less than 2100-01-01",
        ),
        (
            {"body": {"kind": "discovery", "facts": {"natural_key": "k\x00"}}},
            "body.discovery.facts",
            NUL_MESSAGE,
        ),
    ],
)
def test_full_observations_refuse_each_boundary(item: dict, field: str, message: str) -> None:
    [error] = _refused([{**{"source": "nms", "asset_id": "ast_x"}, **item}])
    assert error["field"] == f"[0].{field}" and message in error["message"]


# -- Alerta ------------------------------------------------------------------------------------------


def _format_errors(fn: Any, payload: Any) -> list[dict[str, str]]:
    with pytest.raises(FormatError) as err:
        fn(payload)
    return err.value.errors


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"createTime": "0001-01-01T00:00:00.000Z"}, "createTime", "greater than or equal to 1970"),
        ({"createTime": "9999-12-31T00:00:00.000Z"}, "createTime", "less than 2100"),
        ({"timeout": 2**31}, "timeout", "less than or equal to 31536000"),
        ({"resource": "r\x00"}, "resource", NUL_MESSAGE),
        ({"value": "v" * 257}, "value", "at most 256 characters"),
        ({"rawData": "x" * 40_000}, "rawData", "at most 32768 characters"),
        ({"correlate": [f"E{i}" for i in range(16)]}, "correlate", "at most 16 items"),
        ({"attributes": {"a": [[["\x00"]]]}}, "attributes", f"{NUL_MESSAGE} at a[0][0][0]"),
    ],
)
def test_alerta_alert_boundaries(fields: dict, field: str, message: str) -> None:
    payload = {**sample("alerta_alert.json"), **fields}
    [error] = _format_errors(lambda p: alerta.translate(p, SEVERITIES), payload)
    assert error["field"] == field and message in error["message"]


def test_alerta_heartbeat_boundaries() -> None:
    [error] = _format_errors(
        alerta.translate_heartbeat, {"origin": "o", "createTime": "0001-01-01T00:00:00Z"}
    )
    assert error["field"] == "createTime"
    [error] = _format_errors(alerta.translate_heartbeat, {"origin": "o" * 257})
    assert error["field"] == "origin"


# -- Alertmanager ------------------------------------------------------------------------------------


def _am(**alert: Any) -> dict[str, Any]:
    hook = copy.deepcopy(sample("alertmanager_firing.json"))
    hook["alerts"][0].update(alert)
    return hook


def test_alertmanager_go_zero_time_still_means_unset() -> None:
    [obs] = alertmanager.translate(_am(endsAt="0001-01-01T00:00:00Z"), SEVERITIES)
    [unset] = alertmanager.translate(_am(startsAt="0001-01-01T00:00:00Z"), SEVERITIES)
    assert obs.occurred_at.year == 2023 and unset.occurred_at.year >= 2026


@pytest.mark.parametrize(
    ("alert", "field", "message"),
    [
        ({"startsAt": "9999-12-31T23:59:59Z"}, "alerts[0].startsAt", "less than 2100"),
        ({"startsAt": "0002-01-01T00:00:00Z"}, "alerts[0].startsAt", "greater than or equal to 1970"),
        ({"labels": {"alertname": "A", "instance": "i\x00"}}, "alerts[0].labels.instance", NUL_MESSAGE),
        (
            {"labels": {"alertname": "A", "instance": "i" * 300}},
            "alerts[0].resource",
            "at most 256 characters",
        ),
        ({"generatorURL": "u" * 9000}, "alerts[0].generatorURL", "at most 8192 characters"),
    ],
)
def test_alertmanager_boundaries(alert: dict, field: str, message: str) -> None:
    [error] = _format_errors(lambda p: alertmanager.translate(p, SEVERITIES), _am(**alert))
    assert error["field"] == field and message in error["message"]


def test_alertmanager_long_summary_is_cut_to_the_title_bound() -> None:
    hook = _am()
    hook["alerts"][0]["annotations"]["summary"] = "s" * 5000
    [obs] = alertmanager.translate(hook, SEVERITIES)
    assert len(obs.body.title) == 1024
    assert obs.body.attributes["alertmanager"]["annotations"]["summary"] == "s" * 5000


# -- PagerDuty ---------------------------------------------------------------------------------------


def _pd(**payload: Any) -> dict[str, Any]:
    event = copy.deepcopy(sample("pagerduty_trigger.json"))
    event["payload"].update(payload)
    return event


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        (_pd(timestamp="0001-01-01T00:00:00Z"), "payload.timestamp", "greater than or equal to 1970"),
        (_pd(timestamp="9999-01-01T00:00:00Z"), "payload.timestamp", "less than 2100"),
        (_pd(custom_details={"a": ["\x00"]}), "payload.custom_details", f"{NUL_MESSAGE} at a[0]"),
        (_pd(summary="s" * 1025), "payload.summary", "at most 1024 characters"),
        ({**_pd(), "links": [{"href": "h\x00"}]}, "links[0]", f"{NUL_MESSAGE} at href"),
        ({**_pd(), "dedup_key": "k\x00"}, "dedup_key", NUL_MESSAGE),
    ],
)
def test_pagerduty_boundaries(event: dict, field: str, message: str) -> None:
    [error] = _format_errors(pagerduty.parse, event)
    assert error["field"] == field and message in error["message"]


def test_the_samples_still_pass() -> None:
    assert alertmanager.translate(sample("alertmanager_grafana.json"), SEVERITIES)
    assert alerta.translate(sample("alerta_alert.json"), SEVERITIES)
    assert pagerduty.translate(pagerduty.parse(sample("pagerduty_trigger.json")), SEVERITIES)
    assert parse_observations(orjson.loads(orjson.dumps(GOOD)), KNOWN)


# -- POST /api/v1/alerts/{id}/{action}: the body's comment and operator --------------------------------


class _Rows:
    async def fetchone(self) -> dict:
        return {"alert_id": "alr_1", "fingerprint": "f" * 32, "status": "open"}


class _Conn:
    async def execute(self, *args: object) -> _Rows:
        return _Rows()


class _Pool:
    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[_Conn]:
        yield _Conn()


class _Appender:
    async def append(self, topic: str, records: list) -> None:
        pass


class _Auth:
    async def authenticate(self, request: object) -> Principal:
        return Principal("ann", "user", "operator", ROLE_PERMISSIONS["operator"], None)


def _actions() -> httpx.AsyncClient:
    app = Starlette(routes=starlette_routes(alert_actions.ENDPOINTS), exception_handlers=EXCEPTION_HANDLERS)
    app.state.pool, app.state.appender, app.state.auth = _Pool(), _Appender(), _Auth()
    app.state.settings = Settings()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def test_alert_action_bodies_refuse_nul_and_bad_arguments() -> None:
    async with _actions() as c:
        r = await c.post("/api/v1/alerts/alr_1/note", json={"text": "a\x00"})
        assert r.status_code == 422 and r.json()["errors"] == [{"field": "text", "message": NUL_MESSAGE}]
        r = await c.post("/api/v1/alerts/alr_1/shelve", json={"until": "9999-12-31T00:00:00Z"})
        assert r.status_code == 422
        assert r.json()["error"].startswith("shelve: until: Input should be less than 2100")
        assert (await c.post("/api/v1/alerts/alr_1/note", json={"text": "ok"})).status_code == 202


@pytest.mark.parametrize("body", [{"comment": "c" * 5000}, {"by": "someone else"}, {"actor": "x"}])
async def test_alert_action_comment_over_its_bound_or_a_client_chosen_operator_is_422(body: dict) -> None:
    async with _actions() as c:
        r = await c.post("/api/v1/alerts/alr_1/ack", json=body)
    assert r.status_code == 422
