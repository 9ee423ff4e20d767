"""Event observations in canonical form, checked without pydantic (`ems.schemas.canonical`).

`read_event` holds a parsed event observation against every rule of `Observation` and `EventBody`
in plain Python and returns its envelope, whose body is then as the validation would leave it.
Beyond the envelope's rules it declines a severity not in lower case and a timeout that is not a
plain integer (the validation would convert them), and any attribute key with white space at its
ends (the validation strips keys too). The normalize stage uses it for the events the API, the
Alerta ingest and the collectors write, and decodes anything it declines in full
(`tests/unit/test_event_canonical.py` checks, on generated and mutated records, that what it
accepts normalizes to the very event the full decode gives).
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError

from ems.schemas.canonical import Envelope, NotCanonical, checked, envelope, from_bytes, optional, text, texts
from ems.schemas.field_bounds import item_length, length
from ems.schemas.limits import MAX_JSON_BYTES, MAX_TIMEOUT, json_check
from ems.schemas.observation import EventBody

BODY_FIELDS = len(EventBody.model_fields)
# The schema's bounds, read from EventBody: (min, max) characters, or items of a list.
EVENT, SEVERITY, TITLE, TEXT, ENVIRONMENT = (
    length(EventBody, name) for name in ("event", "severity", "title", "text", "environment")
)
RESOURCE, VALUE = length(EventBody, "resource")[1], length(EventBody, "value")[1]
SERVICE, TAGS, CORRELATE = (
    (length(EventBody, name)[1], *item_length(EventBody, name)) for name in ("service", "tags", "correlate")
)
MAX_ATTRIBUTES, MAX_KEY = length(EventBody, "attributes")[1], item_length(EventBody, "attributes")[1]
_attributes = json_check(MAX_JSON_BYTES)
KIND = b'"kind":"event"'  # as orjson writes the body's kind


def canonical_event(raw: bytes | None) -> Envelope | None:
    """`read_event` of the record's bytes, or None when they are not a canonical event
    observation (then the caller decodes them in full). Bytes without `"kind":"event"`, as
    `encode` writes it, are not parsed here: a discovery or a heartbeat is parsed once, by the
    full decode."""
    if raw is None or KIND not in raw:
        return None
    return from_bytes(read_event, raw)


def read_event(data: object) -> Envelope:
    """The checked envelope and body of a parsed canonical event observation; `NotCanonical` when
    it is not one in every respect (module docstring)."""
    return checked(_read, data)


def _read(data: object) -> Envelope:
    head = envelope(data, BODY_FIELDS)
    body = head.body
    if body["kind"] != "event":
        raise NotCanonical("kind")
    text(body["event"], *EVENT)
    severity = text(body["severity"], *SEVERITY)
    if severity != severity.lower():
        raise NotCanonical(severity)
    optional(body["resource"], RESOURCE)
    text(body["title"], *TITLE)
    text(body["text"], *TEXT)
    text(body["environment"], *ENVIRONMENT)
    texts(body["service"], *SERVICE)
    texts(body["tags"], *TAGS)
    texts(body["correlate"], *CORRELATE)
    optional(body["value"], VALUE)
    timeout = body["timeout"]
    if timeout is not None and (type(timeout) is not int or not 0 <= timeout <= MAX_TIMEOUT):
        raise NotCanonical(timeout)
    _check_attributes(body["attributes"])
    return head


def _check_attributes(attributes: object) -> None:
    if type(attributes) is not dict or len(attributes) > MAX_ATTRIBUTES:
        raise NotCanonical("attributes")
    if not attributes:
        return
    for key in attributes:
        if type(key) is not str or len(key) > MAX_KEY or key != key.strip():
            raise NotCanonical(key)
    try:
        _attributes(attributes)  # JSON size, depth and NUL, as the schema checks them
    except PydanticCustomError as exc:
        raise NotCanonical(str(exc)) from None
