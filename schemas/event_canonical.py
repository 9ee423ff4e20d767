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
from ems.schemas.limits import MAX_JSON_BYTES, MAX_TIMEOUT, NAME_MAX, json_check
from ems.schemas.observation import EventBody

BODY_FIELDS = len(EventBody.model_fields)
MAX_ATTRIBUTES, MAX_KEY = 128, 256  # limits.json_object's keys, limits.Key
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
    text(body["event"], 1, NAME_MAX)
    severity = text(body["severity"], 1, 64)
    if severity != severity.lower():
        raise NotCanonical(severity)
    optional(body["resource"], 256)
    text(body["title"], 0, 1024)
    text(body["text"], 0, 8192)
    text(body["environment"], 1, 64)
    texts(body["service"], 32, 1, NAME_MAX)
    texts(body["tags"], 64, 1, 128)
    texts(body["correlate"], 16, 1, NAME_MAX)
    optional(body["value"], 256)
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
