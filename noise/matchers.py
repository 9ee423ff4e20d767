"""Alertmanager-style matchers on alert fields and attributes, and their text form.

A matcher is `name op value` with op `=`, `!=`, `=~` or `!~`. Regexes are fully anchored as in
Alertmanager (`=~"web"` matches "web", not "webserver"). A field that is missing or empty reads as
"" (so `team=""` matches an alert without a team). A list field (`service`, `tags`, `asset.tags`)
matches `=` / `=~` when any element does and `!=` / `!~` when none does; an empty list reads as "".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ems.noise.errors import RuleError

Op = Literal["=", "!=", "=~", "!~"]
OPS: tuple[str, ...] = ("=", "!=", "=~", "!~")
Fields = Mapping[str, Any]

# The alert fields a matcher may name (those of schemas/alert.py's AlertState that describe the alert).
ALERT_FIELDS = frozenset(
    {
        "alert_id", "fingerprint", "status", "severity", "previous_severity", "trend", "source", "event",
        "resource", "title", "text", "asset_id", "environment", "service", "tags", "value", "tenant",
        "assignee", "assigned_team",
    }
)  # fmt: skip
# Facts of the alert's asset (from the asset registry), when the caller supplies them.
ASSET_FIELDS = frozenset({"asset.tags", "asset.business_service", "asset.site", "asset.type", "asset.name"})
# Short names: Alertmanager/Alerta users write these.
ALIASES = {"asset": "asset_id", "group": "attributes.alerta.group"}
_NAME = r"[A-Za-z_][A-Za-z0-9_.:-]*"


class MatcherError(RuleError):
    """A matcher that cannot be used; `matcher` is its text (or name), `field` the input at fault."""

    def __init__(self, matcher: str, message: str, field: str = "matchers") -> None:
        super().__init__(field, f"matcher {matcher!r}: {message}")
        self.matcher = matcher
        self.reason = message


def check_name(name: str) -> str:
    """The canonical field name for `name`; MatcherError when it is not a known field or attribute."""
    name = ALIASES.get(name, name)
    if name in ALERT_FIELDS or name in ASSET_FIELDS:
        return name
    if name.startswith("attributes.") and len(name) > len("attributes."):
        return name
    known = ", ".join(sorted(ALERT_FIELDS | ASSET_FIELDS | set(ALIASES)))
    raise MatcherError(name, f"unknown field; expected one of {known} or attributes.<name>")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def values_of(fields: Fields, name: str) -> list[str]:
    """The values `name` has in `fields` as text: one per element of a list field, [""] when missing."""
    if name.startswith("attributes."):
        value: Any = fields.get("attributes") or {}
        path = name[len("attributes.") :]
        if path in value:  # an attribute whose own name has dots
            value = value[path]
        else:
            for part in path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
    else:
        value = fields.get(name)
    if isinstance(value, list | tuple):
        return [_text(v) for v in value] or [""]
    return [_text(value)]


@dataclass(frozen=True)
class Matcher:
    """One condition on one field; regexes are compiled (and checked) on construction."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = str(self)
        if self.op not in OPS:
            raise MatcherError(text, f"unknown operator {self.op!r}; expected one of {', '.join(OPS)}")
        try:
            object.__setattr__(self, "name", check_name(self.name))
        except MatcherError as exc:
            raise MatcherError(text, exc.reason) from None
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(f"(?:{self.value})\\Z"))
            except re.error as exc:
                raise MatcherError(text, f"invalid regular expression: {exc}") from None

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"

    def matches_value(self, value: str) -> bool:
        if self._regex is not None:
            return self._regex.match(value) is not None
        return value == self.value

    def matches(self, fields: Fields) -> bool:
        """Whether the alert's `fields` satisfy this matcher (see the module docstring for lists)."""
        hit = any(self.matches_value(v) for v in values_of(fields, self.name))
        return hit if self.op in ("=", "=~") else not hit


def matches_all(matchers: Iterable[Matcher], fields: Fields) -> bool:
    """True when every matcher matches (so no matchers match everything)."""
    return all(m.matches(fields) for m in matchers)


def alert_fields(alert: BaseModel | Fields, asset: Fields | None = None) -> dict[str, Any]:
    """The fields matchers read: an AlertState (or its dict) plus `asset.<x>` facts of its asset."""
    out = dict(alert.model_dump(mode="json") if isinstance(alert, BaseModel) else alert)
    for key, value in (asset or {}).items():
        out[f"asset.{key}"] = value
    return out


_TOKEN = re.compile(
    rf"\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|[^,}\"\s]*)\s*(?P<sep>,|$)"
)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(raw: str) -> str:
    if not raw.startswith('"'):
        return raw
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw[1:-1])


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Alertmanager's text form: `{service="web", severity=~"crit.*"}` (braces optional, values quoted
    or bare). MatcherError naming the position of the first part it cannot read."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(text, "opening { without a closing }")
        body = body[1:-1]
    if not body.strip():
        return ()
    out: list[Matcher] = []
    pos = 0
    while pos < len(body):
        found = _TOKEN.match(body, pos)
        if found is None or found.end() == pos:
            raise MatcherError(text, f"cannot read a matcher at character {pos}: {body[pos : pos + 20]!r}")
        out.append(Matcher(found["name"], found["op"], _unquote(found["value"])))  # type: ignore[arg-type]
        pos = found.end()
        if found["sep"] == "," and pos >= len(body.rstrip()):
            break  # a trailing comma is allowed, as in Alertmanager
    return tuple(out)


def as_matchers(spec: str | Sequence[Matcher]) -> tuple[Matcher, ...]:
    """Matchers from their text form or as given."""
    return parse_matchers(spec) if isinstance(spec, str) else tuple(spec)
