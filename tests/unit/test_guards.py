"""The request guard (api/guards.py) and the query-parameter edges: NUL and bad UTF-8 in a request
target, pathological regular expressions, out-of-range times and crafted cursors are 400s."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from starlette.datastructures import QueryParams

from ems.api import queries
from ems.api.alert_filters import MAX_PATTERN, Column, check_pattern, where_clause
from ems.api.alert_query import build_list, parse_sort
from ems.api.alert_query import decode_cursor as alert_cursor
from ems.api.cursor import pack
from ems.api.errors import ApiError
from ems.api.guards import RequestGuard, regex_parameters, request_problem
from ems.api.params import time_param
from ems.api.series import parse_time as series_time

CATALOG = {
    "alert_id": Column("text", False),
    "event": Column("text", False),
    "resource": Column("text", False),
    "last_seen": Column("timestamp with time zone", False),
    "ack_until": Column("timestamp with time zone"),
    "tags": Column("ARRAY", False),
    "attributes": Column("jsonb", False),
}


# -- the middleware ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "reason"),
    [
        (b"/api/v1/alerts/%00abc", b"", "the path contains a NUL character"),
        (b"/api/v1/alerts/a\x00b", b"", "the path contains a NUL character"),
        (b"/api/v1/alerts", b"q=%00", "the query string contains a NUL character"),
        (b"/api/v1/alerts", b"event=%C3%28", "the query string is not valid UTF-8 once %-decoded (byte 0xc3"),
        (b"/api/v1/alerts/%ff", b"", "the path is not valid UTF-8 once %-decoded (byte 0xff at offset 15)"),
        (b"/api/v1/alerts/\xe9t\xe9", b"", "the path is not valid UTF-8"),
    ],
)
def test_request_targets_no_field_can_hold_are_refused(path: bytes, query: bytes, reason: str) -> None:
    assert (request_problem(path, query) or "").startswith(reason)


@pytest.mark.parametrize(
    ("path", "query"), [(b"/api/v1/alerts/caf%C3%A9", b""), (b"/api/v1/alerts", b"q=%E2%9C%93&event=~a%7Cb")]
)
def test_plain_unicode_requests_pass(path: bytes, query: bytes) -> None:
    assert request_problem(path, query) is None


def test_regex_parameters_are_named_as_the_client_wrote_them() -> None:
    query = b"event=~a%28&resource!=~x&severity=!~y&status=open&attributes.k=~z"
    assert regex_parameters(query) == ["event=~", "resource!=~", "severity=!~", "attributes.k=~"]


async def _call(app: Any, path: bytes, query: bytes = b"") -> tuple[int, dict, list[dict]]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "headers": [],
    }
    await RequestGuard(app)(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], orjson.loads(body) if body else {}, sent


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_the_guard_answers_400_before_the_route() -> None:
    status, body, _ = await _call(_ok, b"/api/v1/alerts/%00abc")
    assert status == 400 and "NUL" in body["error"]
    status, _, _ = await _call(_ok, b"/api/v1/alerts/abc")
    assert status == 200


# -- regular expressions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (
            "(" * 3000 + "a" + ")" * 3000,
            "event: the regular expression has 6001 characters; the limit is 1024",
        ),
        ("(" * 500 + "a" + ")" * 500, "event: the regular expression is nested too deeply"),
        ("a{1,4294967296}", "event: the regular expression is too large"),
        ("(a", "event: invalid regular expression '(a'"),
    ],
)
def test_pathological_patterns_are_400_naming_the_parameter(pattern: str, reason: str) -> None:
    with pytest.raises(ApiError) as err:
        check_pattern("event", pattern)
    assert err.value.status == 400 and err.value.reason.startswith(reason)


def test_the_filter_parser_uses_the_checked_pattern() -> None:
    with pytest.raises(ApiError, match="nested too deeply"):
        where_clause([("event", "~" + "(" * 500 + ")" * 500)], CATALOG)
    assert where_clause([("event", "~^Node(Down|Up)$")], CATALOG)[1] == ["^Node(Down|Up)$"]
    assert len("x" * MAX_PATTERN) == MAX_PATTERN and check_pattern("q", "x" * MAX_PATTERN)


# -- times -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2100-01-01"]
)
def test_query_times_outside_sane_years_are_400(raw: str) -> None:
    for parse in (lambda r: time_param(r, "from"), lambda r: series_time(r, "from")):
        with pytest.raises(ApiError) as err:
            parse(raw)
        assert err.value.status == 400 and err.value.reason.startswith("from must be from 1970-01-01")


def test_query_times_are_utc_aware() -> None:
    assert time_param("2026-01-08T12:00:00", "to") == datetime(2026, 1, 8, 12, tzinfo=UTC)
    assert time_param("2026-01-08T13:00:00+01:00", "to") == datetime(2026, 1, 8, 12, tzinfo=UTC)
    assert series_time("1767873600", "to") == datetime(2026, 1, 8, 12, tzinfo=UTC)
    with pytest.raises(ApiError, match="ISO-8601 time or Unix seconds"):
        series_time("1e20", "to")  # year 3 million: not a time at all


def test_alert_list_from_to_and_time_filters_are_bounded() -> None:
    for params in (
        {"from": "0001-01-01T00:00:00Z"},
        {"to": "9999-01-01T00:00:00Z"},
        {"last_seen>": "0001-01-01"},
    ):
        with pytest.raises(ApiError) as err:
            build_list(QueryParams(params), CATALOG)
        assert err.value.status == 400
    # Deadline columns may be filtered up to 2200 (an ack's end can be past 2100).
    build_list(QueryParams({"ack_until<": "2150-01-01T00:00:00Z"}), CATALOG)
    with pytest.raises(ApiError, match="from must be"):
        queries.build_list(queries.EVENTS, QueryParams({"from": "9999-01-01"}), None)


# -- cursors -----------------------------------------------------------------------------------------


def _cursor(body: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"s": "-occurred_at", "v": body})).decode()


@pytest.mark.parametrize(
    "body",
    [
        ["a\x00", "alr_1"],
        ["x", "alr\x00"],
        [{"t": 5}, "alr_1"],
        [{"t": "9999-01-01T00:00:00Z"}, "alr_1"],
        [{"no": "t"}, "alr_1"],
        ["x", 7],
        [["x"], "alr_1"],
    ],
)
def test_crafted_list_cursors_are_400(body: Any) -> None:
    with pytest.raises(ApiError) as err:
        queries.decode_cursor(_cursor(body), "-occurred_at")
    assert err.value.status == 400


def test_crafted_alert_cursors_with_nul_are_400() -> None:
    keys = parse_sort(["resource"], CATALOG)
    with pytest.raises(ApiError, match="invalid cursor: bad value"):
        alert_cursor(pack("resource,alert_id", ["r\x00", "alr_1"]), keys)
    assert alert_cursor(pack("resource,alert_id", ["r", "alr_1"]), keys) == ["r", "alr_1"]
