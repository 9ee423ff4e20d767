"""The API against its own OpenAPI document, on a real pipeline.

Schemathesis loads /openapi.json from the running API and sends every operation schema-valid and
schema-violating requests as the admin key (seeded and derandomized: the same requests on every
run). No answer may be a server error, carry a status, content type, body or header the document
does not declare, accept (2xx) a request the document calls invalid, answer a wrong method without
405 and the right `Allow`, or serve without credentials. Then hostile values on every filter of the
list endpoints (SQL-ish text, regex bombs, a NUL, 100 kB) and deeply nested bodies: each answer is
200 or a 4xx the operation documents, never a 5xx.
"""

from __future__ import annotations

import collections
import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from tests.integration.harness import Pipeline

SEED = 20261130
MAX_EXAMPLES = 12  # per operation in the fuzzing phase (the coverage phase sends its own ~4700 requests)
# Every check that names a disagreement between the API and its document fails the test.
# `positive_data_acceptance` (a request valid per the document refused) is counted, not failed: some
# refusals no schema can state (a cursor not made by the API, from after to, an Idempotency-Key reused
# with another body, a severity missing from EMS_SEVERITY_ORDER, "event or title").
MUST_PASS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "missing_required_header",
)
# What counts as refusing invalid data: schemathesis' list, plus 413 (over the size limit).
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]


def fuzz_config(key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # no state carried from run to run: each run sends the same requests
            "headers": {"Authorization": f"Key {key}"},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
            "workers": 1,
            "continue-on-failure": True,
            "request-timeout": 30,
        }
    )


class Run:
    """What one schemathesis run found: failures by (check, operation), engine errors, time by phase."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        self.errors: list[str] = []
        self.scenarios = 0
        self.seconds: collections.Counter[str] = collections.Counter()

    def counts(self) -> dict[str, int]:
        out: collections.Counter[str] = collections.Counter()
        for (check, _), found in self.failures.items():
            out[check] += len(found)
        return dict(out)


def run_schemathesis(api: str, key: str) -> Run:
    """Schemathesis over every operation of the API's document, as `key`."""
    key_id = key.split("_")[1]
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json", config=fuzz_config(key))

    @schema.hook("map_case")
    def keep_the_key(context: Any, case: Any) -> Any:
        # The run's own key is listed by GET /api/v1/keys, and reused values would revoke it mid-run.
        if case.path_parameters and case.path_parameters.get("key_id") == key_id:
            case.path_parameters["key_id"] = "0" * 16
        return case

    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.scenarios += 1
            run.seconds[str(event.phase.value)] += event.elapsed_time
            recorder = event.recorder
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        run.failures[(check.name, recorder.label)].append(
                            _described(recorder, case_id, check)
                        )
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.value}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
    return run


def _described(recorder: Any, case_id: str, check: Any) -> str:
    failure = check.failure_info.failure
    text = f"{failure.title}: {failure.message[:300]}"
    interaction = recorder.interactions.get(case_id)
    if interaction is not None:
        request = interaction.request
        body = (request.body or b"")[:300].decode("utf-8", "replace")
        text += f"\n    {request.method} {request.uri[:300]} {body}"
        if interaction.response is not None:
            answer = interaction.response.content[:300].decode("utf-8", "replace")
            text += f"\n    -> {interaction.response.status_code} {answer}"
    return text


def test_every_operation_agrees_with_the_document(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    key = pipeline.admin_key()
    started = time.monotonic()
    run = run_schemathesis(pipeline.api, key)
    phases = {phase: round(seconds) for phase, seconds in run.seconds.items()}
    print(
        f"schemathesis {schemathesis.__version__}: {run.scenarios} scenarios in "
        f"{time.monotonic() - started:.0f} s {phases}; failures by check: {run.counts()}"
    )
    with pipeline.client() as c:  # the run was authenticated all along
        assert c.get("/api/v1/auth/me").status_code == 200
    broken = {where: found for where, found in run.failures.items() if where[0] in MUST_PASS}
    report = "\n".join(
        f"{check} | {op}:\n  " + "\n  ".join(found[:3]) for (check, op), found in broken.items()
    )
    assert not broken, f"the API and /openapi.json disagree:\n{report}"
    assert not run.errors, "schemathesis could not test:\n" + "\n".join(run.errors)
    document = httpx.get(f"{pipeline.api}/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert run.scenarios >= operations, f"{run.scenarios} scenarios for {operations} operations"


# -- hostile values on every filter ------------------------------------------------------------------
HOSTILE = {
    "sql-quote": "' OR 1=1 --",
    "sql-drop": ";DROP TABLE alerts",
    "regex-bomb": "~(a+)+$",
    "negated-regex-bomb": "!~(a+)+$",
    "regex-nesting": "~" + "(" * 3000 + "a" + ")" * 3000,
    "regex-invalid": "~[",
    "like-wildcards": "%_\\",
    "nul": "a\x00b",
    "100kB": "x" * 100_000,
}
# Each list endpoint, the parameters it needs to get that far, and every filter it takes (the
# documented parameters, plus the columns the alert lists filter on).
LISTS = {
    "/api/v1/alerts": ({}, ["status", "severity", "resource", "event", "attributes.region", "tags", "id"]),
    "/api/v1/alerts/count": ({}, ["status", "resource", "attributes.region"]),
    "/api/v1/alerts/top": ({}, ["status", "resource"]),
    "/api/v1/events": ({}, []),
    "/api/v1/assets": ({}, []),
    "/api/alerts": ({}, []),
    "/api/v1/metrics/series": ({"asset": "ast_router_01", "name": "cpu"}, ["label.interface"]),
    "/api/v1/metrics/latest": ({"asset": "ast_router_01"}, ["label.interface"]),
    "/api/v1/metrics/top": ({"name": "cpu"}, ["label.interface"]),
}


def get(api: str, key: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    """GET with a raw query string of any length (httpx refuses URLs over 64 kB)."""
    url = urlsplit(api)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("GET", f"{path}?{urlencode(params)}", headers={"Authorization": f"Key {key}"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def documented(document: dict, method: str, path: str) -> set[int]:
    return {int(s) for s in document["paths"][path][method]["responses"] if s.isdigit()}


def test_hostile_filter_values_get_a_documented_answer(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    key = pipeline.admin_key()
    # jsonb prints 1e300 as a 301-digit integer: read back, it must still make a JSON answer.
    event = {"source": "nms", "severity": "major", "title": "link down", "attributes": {"big": 1e300}}
    with pipeline.client() as c:
        assert c.post("/api/v1/events", json=event).status_code == 202
        document = c.get("/openapi.json").json()
    bad: list[str] = []
    for path, (needed, columns) in LISTS.items():
        allowed = documented(document, "get", path) & set(range(400, 500)) | {200}
        names = [p["name"] for p in document["paths"][path]["get"]["parameters"] if p["in"] == "query"]
        for name in dict.fromkeys([*names, *columns]):
            for label, value in HOSTILE.items():
                status, body = get(pipeline.api, key, path, {**needed, name: value})
                if status not in allowed:
                    bad.append(f"GET {path} {name}={label}: {status} {body[:200]!r}")
    assert not bad, "\n".join(bad)
    pipeline.wait_alert_events(1)
    with pipeline.client() as c:
        for path, rows in (("/api/v1/events", "events"), ("/api/v1/alerts", "alerts")):
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert r.json()[rows][0]["attributes"]["big"] == 1e300


def test_a_long_url_sent_in_small_pieces_gets_its_answer(pipeline: Pipeline) -> None:
    """The same 100 kB filter whether the kernel hands it over at once or in 8 kB reads."""
    pipeline.start_api()
    key = pipeline.admin_key()
    url = urlsplit(pipeline.api)
    head = (
        f"GET /api/v1/alerts?resource={'x' * 100_000} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Key {key}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        for start in range(0, len(head), 8192):
            s.sendall(head[start : start + 8192])
            time.sleep(0.01)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 200 OK", answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["alerts"] == []


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_deep_bodies_get_a_documented_4xx(pipeline: Pipeline) -> None:
    pipeline.start_api()
    with pipeline.client() as c:
        document = c.get("/openapi.json").json()
        writes = [
            (method, path)
            for path, methods in document["paths"].items()
            for method, op in methods.items()
            if "requestBody" in op and "{" not in path
        ]
        assert len(writes) >= 10
        bad = []
        for method, path in writes:
            allowed = documented(document, method, path) & set(range(400, 500))
            for depth in (41, 100_000):  # one past MAX_BODY_DEPTH; past what any parser recurses into
                r = c.request(
                    method.upper(), path, content=nested(depth), headers={"Content-Type": "application/json"}
                )
                if r.status_code not in allowed:
                    bad.append(f"{method.upper()} {path} depth {depth}: {r.status_code} {r.text[:200]}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/alert", "/v2/enqueue"])
def test_a_body_over_the_size_limit_is_413_in_the_routes_dialect(pipeline: Pipeline, path: str) -> None:
    pipeline.start_api()
    with pipeline.client() as c:
        r = c.post(path, json={"text": "x" * 300_000})
    assert r.status_code == 413
    body = r.json()
    assert ("error" in body) if path == "/api/v1/events" else (body["status"] in ("error", "invalid event"))
