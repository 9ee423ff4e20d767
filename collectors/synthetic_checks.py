"""Synthetic HTTP(S) checks, the pure core: a check's definition and the evaluation of one result.

A check (`CheckSpec`) says what to request (method, URL, headers, timeout) and what a healthy answer
is (expected status codes, text the body contains, a regex the body matches). `evaluate` turns one
`HttpResult` into metric samples (`synthetic.up` 0/1, `synthetic.response_ms`,
`synthetic.cert_days_left`) and the problems found; `Tracker.step` turns problems into events on
transitions: `Synthetic Check Failed` (critical, the reason: status, body mismatch, timeout, TLS error,
connection error) and `Certificate Expiring` (warning, fewer than `cert_warn_days` left), each cleared
(severity `ok`) when it is no longer true. No I/O and no clock here; the runner is
`ems.collectors.synthetic_runner`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ems.schemas.limits import Text
from ems.schemas.observation import EventBody, MetricSample, MetricsBody

SOURCE = "synthetic"
FAILED = "Synthetic Check Failed"
EXPIRING = "Certificate Expiring"
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CheckName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]*$")]


class CheckSpec(BaseModel):
    """One HTTP(S) check: what to request, how often, and what a healthy answer is."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: CheckName = Field(description="Shown as the alert's resource")
    url: str = Field(max_length=2048, description="http:// or https:// URL")
    method: Method = "GET"
    headers: dict[
        Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=4096)]
    ] = Field(default_factory=dict, max_length=32)
    body: str = Field("", max_length=65_536, description="Request body (POST/PUT/PATCH)")
    expect_status: list[int] = Field(
        default_factory=lambda: [200], min_length=1, max_length=32, description="Healthy status codes"
    )
    body_contains: str = Field("", max_length=4096, description="Text a healthy body contains")
    body_regex: str = Field("", max_length=1024, description="Regex a healthy body matches (search)")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds for the whole request")
    interval: float = Field(60.0, ge=1, le=86_400, description="Seconds between runs")
    cert_warn_days: int = Field(14, ge=0, le=3650, description="Warn below this many certificate days left")
    service: list[Text(128, 1)] = Field(default_factory=list, max_length=16)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("scheme must be http or https")
        if not parts.hostname:
            raise ValueError("URL has no host")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for k, v in value.items():
            if not TOKEN.fullmatch(k):
                raise ValueError(f"invalid header name {k!r}")
            if not HEADER_VALUE.fullmatch(v):
                raise ValueError(f"header {k!r}: printable ASCII only, no line breaks")
        return value

    @field_validator("expect_status")
    @classmethod
    def _status(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"status codes must be 100-599, not {bad}")
        return value

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return value

    @model_validator(mode="after")
    def _body_method(self) -> CheckSpec:
        if self.body and self.method in ("GET", "HEAD", "OPTIONS"):
            raise ValueError(f"a request body needs POST, PUT, PATCH or DELETE, not {self.method}")
        return self


@dataclass(frozen=True)
class HttpResult:
    """One run's outcome as the runner saw it. `error` is `timeout`, `tls` or `connect` when no answer."""

    elapsed_ms: float
    status: int | None = None
    body: str = ""
    error: str = ""
    detail: str = ""
    cert_days_left: float | None = None


@dataclass(frozen=True)
class Evaluation:
    samples: list[MetricSample]
    failure: str  # "" = healthy; else the reason
    expiring: str  # "" = certificate fine (or not https); else the reason


def failure_of(spec: CheckSpec, r: HttpResult) -> str:
    """Why this result is unhealthy, or "" when it is healthy."""
    if r.error == "timeout":
        return f"timeout after {spec.timeout:g}s"
    if r.error:
        return f"{r.error} error: {r.detail}".strip().rstrip(":")
    if r.status not in spec.expect_status:
        return f"status {r.status}, expected {', '.join(map(str, spec.expect_status))}"
    if spec.body_contains and spec.body_contains not in r.body:
        return f"body mismatch: does not contain {spec.body_contains!r}"
    if spec.body_regex and re.search(spec.body_regex, r.body) is None:
        return f"body mismatch: does not match /{spec.body_regex}/"
    return ""


def evaluate(check_id: str, spec: CheckSpec, r: HttpResult) -> Evaluation:
    """Samples and problems of one result."""
    failure = failure_of(spec, r)
    labels = {"check": check_id, "name": spec.name}
    samples = [
        MetricSample(name="synthetic.up", value=0.0 if failure else 1.0, labels=labels),
        MetricSample(name="synthetic.response_ms", value=round(r.elapsed_ms, 3), labels=labels),
    ]
    expiring = ""
    if r.cert_days_left is not None:
        samples.append(
            MetricSample(name="synthetic.cert_days_left", value=round(r.cert_days_left, 3), labels=labels)
        )
        if r.cert_days_left < spec.cert_warn_days:
            expiring = f"certificate expires in {r.cert_days_left:.1f} days (< {spec.cert_warn_days})"
    return Evaluation(samples, failure, expiring)


def event(check_id: str, spec: CheckSpec, name: str, severity: str, reason: str) -> EventBody:
    cleared = severity == "ok"
    return EventBody(
        event=name,
        severity=severity,
        resource=spec.name,
        title=f"{name}: {spec.name}" + (" cleared" if cleared else ""),
        text=reason or f"{spec.method} {spec.url} healthy",
        value=(reason or "ok")[:256],
        service=spec.service,
        attributes={"check": check_id, "url": spec.url, "method": spec.method},
    )


@dataclass
class Tracker:
    """Open problems per check, so events are published on transitions only. A check's first healthy
    result clears (an alert may be open from before a restart); a deleted check's problems are cleared."""

    open: dict[str, dict[str, str]] = field(default_factory=dict)  # check -> {event name: reason}

    def step(self, check_id: str, spec: CheckSpec, ev: Evaluation) -> list[EventBody]:
        seen = check_id in self.open
        before = self.open.setdefault(check_id, {})
        out: list[EventBody] = []
        for name, severity, reason in ((FAILED, "critical", ev.failure), (EXPIRING, "warning", ev.expiring)):
            if reason and before.get(name) != reason:
                out.append(event(check_id, spec, name, severity, reason))
                before[name] = reason
            elif not reason and (name in before or (not seen and name == FAILED)):
                out.append(event(check_id, spec, name, "ok", ""))
                before.pop(name, None)
        return out

    def forget(self, check_id: str, spec: CheckSpec) -> list[EventBody]:
        """Clears for a check that no longer exists."""
        before = self.open.pop(check_id, {})
        return [event(check_id, spec, name, "ok", "check deleted") for name in sorted(before)]


def metrics(ev: Evaluation) -> MetricsBody:
    return MetricsBody(samples=ev.samples)
