"""Keys verified recently, to go on authenticating them while PostgreSQL is unreachable.

Keys are checked in PostgreSQL; without this, a PostgreSQL outage would refuse every keyed request:
ingest (which only needs Kafka) would stop and `/health` could not be read to say why. A key that
this process verified within `grace` seconds is accepted on its stored hash while the lookup fails
with a connection error, never otherwise. It cannot have been revoked meanwhile unnoticed: a revocation
is a PostgreSQL write, and a lookup that finds a key unknown, revoked or expired forgets it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from ems.api.security.errors import Unauthorized
from ems.api.security.keys import ParsedKey, secret_matches
from ems.api.security.principal import Principal


@dataclass(frozen=True)
class Verified:
    secret_hash: str
    principal: Principal
    expires_at: datetime | None
    at: float  # monotonic time of the verification


class RecentKeys:
    """The last verification of each key (at most `size`, the least recently verified dropped first)."""

    def __init__(self, grace: float = 300.0, size: int = 10_000) -> None:
        self.grace, self.size = grace, size
        self._seen: OrderedDict[str, Verified] = OrderedDict()

    def remember(self, key_id: str, entry: Verified) -> None:
        self._seen.pop(key_id, None)
        self._seen[key_id] = entry
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def forget(self, key_id: str) -> None:
        self._seen.pop(key_id, None)

    def knows(self, key_id: str, now: float) -> bool:
        """Whether key `key_id` was verified within `grace` s before `now`."""
        entry = self._seen.get(key_id)
        return entry is not None and now - entry.at <= self.grace

    def entry(self, key_id: str) -> Verified | None:
        return self._seen.get(key_id)

    def principal(self, key: ParsedKey, now: float, wall: datetime) -> Principal | None:
        """The principal of `key` if verified within `grace` s before `now` (None: not known enough
        to decide); `Unauthorized` when the secret is wrong or the key has expired since."""
        if not self.knows(key.key_id, now):
            return None
        return self.checked(self._seen[key.key_id], key, wall)

    @staticmethod
    def checked(entry: Verified, key: ParsedKey, wall: datetime) -> Principal:
        """The principal of `entry` for `key`; `Unauthorized` for a wrong secret or a key expired since."""
        if not secret_matches(key.secret, entry.secret_hash):
            raise Unauthorized("invalid API key")
        if entry.expires_at is not None and entry.expires_at <= wall:
            raise Unauthorized("API key expired")
        return entry.principal
