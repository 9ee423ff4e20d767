"""The boundaries every record keeps, so that what validates is what PostgreSQL, Kafka and the
pipeline's own arithmetic accept.

A value outside them is refused where it enters: a 4xx naming the field at the API, a dead letter
with the field and the reason on a topic (`ems.streams.codecs.decode`), never a failed insert at a
sink or an overflow in a stage. The schemas in `ems.schemas` (and the API-only models) build their
fields from the types here. Every check but the free-form JSON one runs inside pydantic-core (no
Python call per value): they run for every record on the hot path.

Text, `Text(max_length)`: no NUL (U+0000; PostgreSQL's text and jsonb refuse it: "text fields cannot
contain NUL", "unsupported Unicode escape sequence") and no lone UTF-16 surrogate (U+D800..U+DFFF;
not encodable as UTF-8, so psycopg raises UnicodeEncodeError and orjson.dumps JSONEncodeError on
it). JSON input never holds a surrogate (orjson.loads refuses "\\ud800"), but a record built in
Python may. The `pattern` refuses NUL, and makes pydantic-core read the string as UTF-8, which
refuses surrogates. Every string has a maximum length.

Free-form JSON, `json_object(...)` and `JsonValue` (attributes, facts, command args, PagerDuty's
custom_details...): what orjson can encode (no surrogates, integers within 64 bits), no NUL in any
key or string at any depth, at most MAX_DEPTH levels of nesting (orjson.dumps gives up at 255, and
PostgreSQL's jsonb parser recurses) and, where the value is not an accumulation the pipeline itself
grows, at most `max_bytes` of JSON (the Kafka message and the jsonb column are finite). One
`orjson.dumps` (Rust, ~0.2 µs for a typical attributes dict) answers all of it; a walk in Python
runs only to name the path of a problem it found.

Integers: within the PostgreSQL column that stores them (integer = INT4, bigint = INT8;
infra/migrations/*.sql). Floats: finite where stored or aggregated (`Finite`): JSON cannot carry
NaN or Infinity (orjson writes them as null, so the record would change on the wire) and a NaN in a
metric rollup's numeric `sum` would make the bucket's average NaN for good (+Inf + -Inf = NaN).

Times, `Time`: 1970-01-01 <= t < 2100-01-01 UTC (a naive time is taken as UTC, as the envelope
does). Below: the Unix epoch, where Kafka record timestamps start (a device whose clock was reset
still fits); year 1 would also create metric partitions per day for year 1. Above: stages add
durations to times (an alert's `last_seen + timeout`, up to INT4 seconds, about 68 years; a shelve
`at + duration`) and Python's datetime ends in 9999, so year 9999 overflows and stops the stage;
and an event stamped decades ahead would pin an alert's last_seen in the future. `Deadline` (an
ack's or a shelve's end: a Time plus a configured duration) may reach 2200-01-01.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import ErrorDetails, PydanticCustomError

# Integer columns (PostgreSQL `integer`, `bigint`; no column of ours is a `smallint`).
INT4_MAX = 2_147_483_647
INT8_MAX = 9_223_372_036_854_775_807

# Times.
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
DEADLINE_MAX = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive

# Durations in seconds that a client gives (alert timeouts, ack timeouts, shelve durations).
MAX_TIMEOUT = 31_536_000  # 365 days

# Free-form JSON.
MAX_DEPTH = 32
MAX_JSON_BYTES = 64 * 1024  # attributes, facts of one record
NO_NUL = r"^[^\x00]*$"

NUL_MESSAGE = "text must not contain NUL (\\u0000)"
UNICODE_MESSAGE = "text must be valid Unicode: no lone UTF-16 surrogates (\\ud800-\\udfff)"


def Text(max_length: int, min_length: int = 0) -> Any:
    """A str of `min_length`..`max_length` characters without NUL or lone surrogates."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)]


def between(low: int, high: int) -> Any:
    """An int within [low, high]."""
    return Annotated[int, Field(ge=low, le=high)]


Count = between(0, INT4_MAX)  # counts, partitions: `integer` columns
Positive = between(1, INT4_MAX)  # versions, event counts: `integer` columns
Offset = between(0, INT8_MAX)  # Kafka offsets: `bigint` columns
Timeout = between(0, MAX_TIMEOUT)
Finite = Annotated[float, Field(allow_inf_nan=False)]
Time = Annotated[datetime, Field(ge=TIME_MIN, lt=TIME_MAX)]
Deadline = Annotated[datetime, Field(ge=TIME_MIN, lt=DEADLINE_MAX)]

# Common texts.
EventId = Text(256, 1)  # record ids; derived ids (`<asset id>:<version>`) are longer than client ones
NAME_MAX = 256
Name = Text(NAME_MAX, 1)
Label = Text(1024)
Tag = Text(128, 1)
# A key of a free-form JSON object: its NUL and surrogates are json_check's, not a pattern's (cheaper).
Key = Annotated[str, StringConstraints(max_length=256)]


def printable(part: object) -> str:
    """A path part (a key of the input) as text safe to show and store: NUL and surrogates escaped."""
    return str(part).replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def _walk(value: Any, depth_limit: int | None) -> Iterator[tuple[str, str]]:
    """(path, problem) of every NUL in `value` (keys included) and of each container nested deeper
    than `depth_limit` levels (not looked into). Iterative: input may be nested 1024 levels deep."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                yield path or "(top)", NUL_MESSAGE
        elif isinstance(item, dict | list):
            if depth_limit is not None and depth > depth_limit:
                yield path or "(top)", f"nested deeper than {depth_limit} levels"
                continue
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in reversed(list(enumerate(item))))
                continue
            for key, v in reversed(item.items()):
                where = f"{path}.{printable(key)}" if path else printable(key)
                stack.append((v, where, depth + 1))
                if isinstance(key, str) and "\x00" in key:
                    stack.append((key, where, depth))  # reported as a NUL at the key's own path


def json_problems(value: Any) -> list[tuple[str, str]]:
    """Every NUL in `value` (keys included) and every level beyond MAX_DEPTH: [(path, problem)]."""
    return list(_walk(value, MAX_DEPTH))


def nul_paths(value: Any) -> list[str]:
    """The path of every string (or key) holding a NUL in a parsed JSON value, at any depth."""
    return [path for path, _ in _walk(value, None)]


def json_check(max_bytes: int | None) -> Callable[[Any], Any]:
    """The AfterValidator of a free-form JSON value of at most `max_bytes` bytes (None: no limit)."""
    limit = INT8_MAX if max_bytes is None else max_bytes
    dumps, nul, low = orjson.dumps, b"\\u0000", 2 * MAX_DEPTH  # MAX_DEPTH levels take 2 bytes each

    def check(value: Any) -> Any:
        try:
            dumped = dumps(value)
        except orjson.JSONEncodeError as exc:
            problems = json_problems(value)  # too deep for orjson (255 levels) is too deep here too
            if problems:
                raise _json_error(problems) from None
            raise PydanticCustomError(
                "json_invalid", "not encodable as JSON: {why}", {"why": str(exc)}
            ) from None
        size = len(dumped)
        if size > limit:
            raise PydanticCustomError(
                "json_too_large",
                "at most {max_bytes} bytes of JSON, got {size}",
                {"max_bytes": limit, "size": size},
            )
        # `\u0000` is how orjson writes a NUL (a literal backslash-u0000 matches too: the walk then
        # finds nothing); more brackets than MAX_DEPTH (in strings too) may mean too deep.
        if nul in dumped or (size > low and dumped.count(b"{") + dumped.count(b"[") > MAX_DEPTH):
            problems = json_problems(value)
            if problems:
                raise _json_error(problems)
        return value

    return check


def _json_error(problems: list[tuple[str, str]]) -> PydanticCustomError:
    path, problem = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return PydanticCustomError(
        "json_value", "{problem} at {path}{more}", {"problem": problem, "path": path, "more": more}
    )


def json_object(max_keys: int = 128, max_bytes: int | None = MAX_JSON_BYTES) -> Any:
    """A free-form JSON object of at most `max_keys` keys and `max_bytes` bytes (None: unbounded
    size, for the accumulations the pipeline grows itself, e.g. an alert's merged attributes)."""
    return Annotated[dict[Key, Any], Field(max_length=max_keys), AfterValidator(json_check(max_bytes))]


JsonValue = Annotated[Any, AfterValidator(json_check(MAX_JSON_BYTES))]
Attributes = json_object()


def message(err: ErrorDetails) -> str:
    """The message of one pydantic error, with the text boundaries named plainly."""
    if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NO_NUL:
        return NUL_MESSAGE
    if err["type"] == "string_unicode":
        return UNICODE_MESSAGE
    return err["msg"]
