"""Notification configuration: receivers and routing rules (`EMS_NOTIFY_RECEIVERS`, `EMS_NOTIFY_ROUTES`).

Both are JSON lists in the environment (pydantic-settings reads them). A route's `matchers` are
Alertmanager matchers (`ems.noise.matchers`) in the text form or as `[{name, op, value}]`; a bad one
is refused when the settings are read, naming the route and the matcher. A route with `group_by`
groups its alerts as Alertmanager does (notify/grouping.py); its durations are seconds or
Alertmanager's text form (`30s`, `5m`, `4h`, `1h30m`). Webhook secrets are `SecretStr`: never logged,
never in a record.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from ems.noise.matchers import Matcher, MatcherError, as_matchers, check_name

ALL_LABELS = "..."  # group_by ["..."]: every alert its own group (Alertmanager's "all labels")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def seconds(value: Any) -> Any:
    """A duration as seconds: a number, or Alertmanager's text (`30s`, `5m`, `1h30m`); ValueError if not."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (seconds, or like 30s, 5m, 4h, 1h30m)") from None
    return sum(int(n) * _UNIT[u] for n, u in parts)


Duration = Annotated[float, BeforeValidator(seconds)]

ReceiverName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class MatcherSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = ""


class ReceiverConfig(BaseModel):
    """One receiver: `webhook` (JSON body signed with HMAC-SHA256), `slack` (incoming webhook) or
    `email` (over the SMTP server of `EMS_NOTIFY_SMTP_*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ReceiverName
    type: Literal["webhook", "slack", "email"]
    url: str | None = Field(None, pattern=r"^https?://\S+$", description="webhook, slack: where to POST")
    secret: SecretStr | None = Field(None, description="webhook: the HMAC-SHA256 key")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default_factory=list, description="email: the recipients"
    )

    @model_validator(mode="after")
    def _complete(self) -> ReceiverConfig:
        if self.type in ("webhook", "slack") and not self.url:
            raise ValueError(f"receiver {self.name!r}: a {self.type} receiver needs url")
        if self.type == "webhook" and self.secret is None:
            raise ValueError(f"receiver {self.name!r}: a webhook receiver needs secret (to sign its body)")
        if self.type == "email" and not self.to:
            raise ValueError(f"receiver {self.name!r}: an email receiver needs to (recipients)")
        return self


class RouteConfig(BaseModel):
    """A routing rule: the alerts all `matchers` match go to `receivers`. Rules are tried in order;
    the first match ends the search unless it sets `continue` (as in Alertmanager). With `group_by`
    (a list; `[]`: one group for the route, `["..."]`: one per alert) the alerts are notified in
    groups after `group_wait`, then every `group_interval` when the group changed, and again after
    `repeat_interval` while it fires; without it, every alert change is notified alone. With
    `escalation` (a policy's name) a notified alert also starts that escalation (notify/escalation.py);
    such a route may name no receivers."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    matchers: str | list[MatcherSpec] = Field(default_factory=list)
    receivers: list[ReceiverName] = Field(default_factory=list)
    escalation: ReceiverName | None = Field(None, description="an escalation policy (notify/escalation.py)")
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Duration = Field(30.0, ge=0, le=86_400)
    group_interval: Duration = Field(300.0, gt=0, le=86_400 * 7)
    repeat_interval: Duration = Field(4 * 3600.0, gt=0, le=86_400 * 366)

    @model_validator(mode="after")
    def _reaches(self) -> RouteConfig:
        if not self.receivers and self.escalation is None:
            raise ValueError("receivers: a route needs receivers or an escalation policy")
        return self

    @field_validator("group_by")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None or value == [ALL_LABELS]:
            return value
        if ALL_LABELS in value:
            raise ValueError(f"{ALL_LABELS!r} (all labels) cannot be combined with other fields")
        try:
            names = [check_name(name) for name in value]
        except MatcherError as exc:
            raise ValueError(f"group_by: {exc.matcher!r}: {exc.reason}") from None
        facts = [n for n in names if n.startswith("asset.")]
        if facts:
            raise ValueError(
                f"group_by: {facts[0]!r}: asset facts cannot group (a group keeps its alerts' own fields)"
            )
        if len(set(names)) != len(names):
            raise ValueError("group_by: a field is named twice")
        return names

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: str | list[MatcherSpec]) -> str | list[MatcherSpec]:
        compiled(value)
        return value

    def compiled(self) -> tuple[Matcher, ...]:
        return compiled(self.matchers)


def compiled(spec: str | list[MatcherSpec]) -> tuple[Matcher, ...]:
    """The core's matchers of a route; a ValueError naming the matcher at fault."""
    try:
        if isinstance(spec, str):
            return as_matchers(spec)
        return tuple(Matcher(m.name, m.op, m.value) for m in spec)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


def check_routes(routes: list[RouteConfig], receivers: list[ReceiverConfig], smtp_host: str | None) -> None:
    """Every route names known receivers, names are unique, and email has a server; ValueError if not."""
    names = [r.name for r in receivers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"notify_receivers: names used twice: {', '.join(twice)}")
    for i, route in enumerate(routes):
        unknown = [n for n in route.receivers if n not in names]
        if unknown:
            raise ValueError(f"notify_routes.{i}.receivers: unknown receiver(s) {', '.join(unknown)}")
    if smtp_host is None and any(r.type == "email" for r in receivers):
        raise ValueError("notify_smtp_host: an email receiver needs an SMTP server")
