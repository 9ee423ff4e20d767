"""`Idempotency-Key`: a write a client sends again (after a timeout, a 503) is applied once.

A write carrying the header gets deterministic record ids: `idk-<digest of client, route and key>-<n>`
for its n-th record (a record that names its own `event_id` keeps it). Sent again, it appends the
same ids, and the pipeline skips an id it applied recently (the dedupe state keeps the ids of the
last `EMS_DEDUPE_RECENT_IDS` events of each alert, the asset registry those of the last 32 commands
of each asset; the events read model keys on the id). The API also remembers the first request of a
key in Redis for `EMS_IDEMPOTENCY_TTL` seconds, so that

- records without their own time get the time of the FIRST request (a metric sample sent again
  lands on the same timestamp, which the metric store keeps once),
- the same key with a different body is refused (422) instead of silently meaning two things.
Without Redis the ids are still derived from the key (events and commands stay exactly-once) but
the time is that of the request, so metric samples without their own time may be stored twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request

from ems.api.errors import ApiError

log = logging.getLogger(__name__)
HEADER = "idempotency-key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII without spaces, as Stripe's and the IETF draft's


class IdempotentWrite:
    """The identity of one keyed write: derived ids and the time of its first request."""

    def __init__(self, digest: str, first_seen: datetime) -> None:
        self.digest, self.first_seen = digest, first_seen

    def record_id(self, index: int) -> str:
        """The id of the `index`-th record of the write."""
        return f"idk-{self.digest}-{index}"


def client_of(request: Request) -> str:
    """Whose keys these are: the authenticated principal (its key id, or its user name and tenant),
    left in the scope by the route table; two callers' equal keys never meet."""
    principal = request.scope.get("ems.principal")
    if principal is None:
        return ""
    ident = getattr(principal, "key_id", None) or principal.name
    return f"{getattr(principal, 'kind', 'user')}:{ident}:{principal.tenant or ''}"


async def keyed_write(request: Request, body: object, ttl: int) -> IdempotentWrite | None:
    """The identity of this write when it carries an Idempotency-Key (None otherwise); ApiError for
    a malformed key (400) or a key reused with another body (422)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")
    scope = f"{client_of(request)}\0{request.method} {request.url.path}\0{key}"
    digest = hashlib.blake2b(scope.encode(), digest_size=12).hexdigest()
    body_digest = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()
    now = datetime.now(UTC)
    try:
        first = await _remember(request.app.state.redis, f"ems:idempotency:{digest}", now, body_digest, ttl)
    except (RedisError, OSError) as exc:
        log.warning("Idempotency-Key not remembered (Redis unavailable: %s); ids still derived from it", exc)
        return IdempotentWrite(digest, now)
    if first is None:
        raise ApiError(422, "this Idempotency-Key was used with a different request body")
    return IdempotentWrite(digest, first)


async def _remember(redis: Redis, name: str, now: datetime, body: str, ttl: int) -> datetime | None:
    """The first request's time for this key (storing `now` if it is the first); None when the
    stored body differs."""
    value = orjson.dumps({"at": now.isoformat(), "body": body})
    if await redis.set(name, value, nx=True, ex=ttl):
        return now
    stored = await redis.get(name)
    if stored is None:  # expired between the two calls: this request is the first again
        await redis.set(name, value, ex=ttl)
        return now
    data = orjson.loads(stored)
    if data.get("body") != body:
        return None
    return datetime.fromisoformat(data["at"])
