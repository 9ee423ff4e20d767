"""The synthetic check core: definitions refused naming the field, results into samples and events."""

import pytest
from pydantic import ValidationError

from ems.collectors.synthetic_checks import (
    EXPIRING,
    FAILED,
    CheckSpec,
    HttpResult,
    Tracker,
    evaluate,
)


def spec(**kw) -> CheckSpec:
    return CheckSpec(**{"name": "shop", "url": "https://shop.example/health", **kw})


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"url": "ftp://x/"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"body_regex": "(unclosed"}, "body_regex"),
        ({"expect_status": [200, 700]}, "expect_status"),
        ({"expect_status": [99]}, "expect_status"),
        ({"method": "FETCH"}, "method"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-Ok": "line\r\nInjected: 1"}}, "headers"),
    ],
)
def test_bad_definitions_name_the_field(kw, field):
    with pytest.raises(ValidationError) as exc:
        spec(**kw)
    assert [e["loc"][0] for e in exc.value.errors()] == [field]


def test_a_body_with_get_is_refused():
    with pytest.raises(ValidationError, match="request body needs POST"):
        spec(body="{}")


def values(ev):
    return {s.name: s.value for s in ev.samples}


def test_healthy_result_is_up_with_response_time_and_cert_days():
    ev = evaluate("c1", spec(body_contains="ok"), HttpResult(123.4, 200, "all ok", cert_days_left=90))
    assert values(ev) == {"synthetic.up": 1.0, "synthetic.response_ms": 123.4, "synthetic.cert_days_left": 90}
    assert (ev.failure, ev.expiring) == ("", "")
    assert ev.samples[0].labels == {"check": "c1", "name": "shop"}


@pytest.mark.parametrize(
    ("s", "r", "reason"),
    [
        (spec(), HttpResult(5, 500, "boom"), "status 500, expected 200"),
        (spec(body_contains="ok"), HttpResult(5, 200, "nope"), "body mismatch: does not contain 'ok'"),
        (spec(body_regex=r"v\d+"), HttpResult(5, 200, "vX"), r"body mismatch: does not match /v\d+/"),
        (spec(timeout=2), HttpResult(2000, error="timeout"), "timeout after 2s"),
        (
            spec(),
            HttpResult(3, error="tls", detail="certificate verify failed"),
            "tls error: certificate verify failed",
        ),
        (spec(expect_status=[301, 302]), HttpResult(5, 200), "status 200, expected 301, 302"),
    ],
)
def test_failure_reasons(s, r, reason):
    ev = evaluate("c1", s, r)
    assert ev.failure == reason
    assert values(ev)["synthetic.up"] == 0.0


def test_regex_and_status_list_pass():
    assert (
        evaluate("c", spec(body_regex=r"v\d+", expect_status=[204, 200]), HttpResult(1, 200, "v12")).failure
        == ""
    )


def test_certificate_expiring_below_threshold_only():
    assert evaluate("c", spec(cert_warn_days=10), HttpResult(1, 200, cert_days_left=9.5)).expiring.startswith(
        "certificate expires in 9.5 days"
    )
    assert evaluate("c", spec(cert_warn_days=10), HttpResult(1, 200, cert_days_left=10)).expiring == ""


def test_tracker_raises_on_transition_and_clears_on_recovery():
    s, t = spec(), Tracker()
    first = t.step("c1", s, evaluate("c1", s, HttpResult(5, 200)))
    assert [(e.event, e.severity) for e in first] == [(FAILED, "ok")]  # clears anything open from before
    assert t.step("c1", s, evaluate("c1", s, HttpResult(5, 200))) == []
    down = t.step("c1", s, evaluate("c1", s, HttpResult(5, 500)))
    assert [(e.event, e.severity, e.resource, e.value) for e in down] == [
        (FAILED, "critical", "shop", "status 500, expected 200")
    ]
    assert t.step("c1", s, evaluate("c1", s, HttpResult(5, 500))) == []
    changed = t.step("c1", s, evaluate("c1", s, HttpResult(9, error="timeout")))
    assert [e.value for e in changed] == ["timeout after 10s"]
    up = t.step("c1", s, evaluate("c1", s, HttpResult(5, 200)))
    assert [(e.event, e.severity) for e in up] == [(FAILED, "ok")]


def test_tracker_certificate_warning_and_forget():
    s, t = spec(), Tracker()
    out = t.step("c1", s, evaluate("c1", s, HttpResult(5, 500, cert_days_left=3)))
    assert {(e.event, e.severity) for e in out} == {(FAILED, "critical"), (EXPIRING, "warning")}
    assert {(e.event, e.severity) for e in t.forget("c1", s)} == {(FAILED, "ok"), (EXPIRING, "ok")}
    assert t.forget("c1", s) == []


def test_projection_creates_then_marks_deleted_and_ignores_other_commands():
    from datetime import UTC, datetime

    from ems.projections.synthetic_checks import SyntheticChecksProjection
    from ems.schemas.command import Command

    p, body = SyntheticChecksProjection(), spec().model_dump(mode="json")
    create = Command(name="check.create", target="chk_1", actor="ann", args={"spec": body, "tenant": None})
    [(_, row)] = list(p.rows(create))
    assert (row[0], row[1], row[4], row[6], row[-1]) == ("chk_1", "shop", "ann", None, 1)
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    delete = Command(
        name="check.delete",
        target="chk_1",
        actor="bob",
        args={"spec": body, "tenant": None, "created_by": "ann", "created_at": at},
    )
    [(_, row)] = list(p.rows(delete))
    assert (row[4], row[7], row[-1]) == ("ann", "bob", 2) and row[6] is not None
    assert list(p.rows(Command(name="heartbeat.tick", target="heartbeats", actor="ticker"))) == []
