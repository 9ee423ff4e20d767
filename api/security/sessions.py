"""Session state in Redis: the shared JWT secret, refresh-token families and revoked access tokens.

Layout under `ems:<app_id>:auth` (the app's namespace, as the heartbeats):
- `:jwt-secret` — the signing secret when `EMS_JWT_SECRET` is unset: the first API process stores a
  random one with `SET NX`, every other process reads that one, so they all agree;
- `:fam:<family>` — a hash {sub, current}: one login's chain of refresh tokens. `current` is the id of
  the only refresh token that may still be used; the key lives as long as that token (its TTL is reset
  on each rotation). Presenting any other token of the family means a used token was replayed (stolen,
  or a client that raced itself): the family is deleted, which ends the session for everyone holding
  it. Access tokens name their family too and are refused once it is gone (logout, reuse);
- `:revoked:<jti>` — an access token revoked by logout, kept until the token's own expiry.
A Redis that loses its data ends every session (users log in again); nothing is let through.
"""

from __future__ import annotations

import time
from typing import Literal

from redis.asyncio import Redis

# Compare-and-set of the family's current refresh token: 1 rotated, 0 reuse (family deleted),
# -1 no such family (expired, revoked, or never ours).
_ROTATE = """
local current = redis.call('HGET', KEYS[1], 'current')
if not current then return -1 end
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
redis.call('DEL', KEYS[1])
return 0
"""
Rotation = Literal["rotated", "reused", "unknown"]


class Sessions:
    """The Redis side of authentication for one app namespace."""

    def __init__(self, redis: Redis, prefix: str, refresh_ttl: int) -> None:
        self.redis, self.prefix, self.refresh_ttl = redis, prefix, refresh_ttl
        self._rotate = redis.register_script(_ROTATE)

    def _family(self, fam: str) -> str:
        return f"{self.prefix}:fam:{fam}"

    async def shared_secret(self, candidate: str) -> str:
        """The namespace's JWT secret: `candidate` if none was stored yet, else the stored one."""
        key = f"{self.prefix}:jwt-secret"
        await self.redis.set(key, candidate, nx=True)
        stored = await self.redis.get(key)
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def open_family(self, fam: str, sub: str, refresh_jti: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._family(fam), mapping={"sub": sub, "current": refresh_jti})
            pipe.expire(self._family(fam), self.refresh_ttl)
            await pipe.execute()

    async def rotate(self, fam: str, used_jti: str, next_jti: str) -> Rotation:
        """Make `next_jti` the family's current token if `used_jti` is; see the module docstring."""
        result = int(
            await self._rotate(keys=[self._family(fam)], args=[used_jti, next_jti, self.refresh_ttl])
        )
        return {1: "rotated", 0: "reused"}.get(result, "unknown")  # type: ignore[return-value]

    async def revoke_family(self, fam: str) -> None:
        await self.redis.delete(self._family(fam))

    async def revoke_access(self, jti: str, exp: int) -> None:
        """Refuse the access token `jti` until its expiry `exp` (after which it is refused anyway)."""
        ttl = int(exp - time.time()) + 1
        if ttl > 0:
            await self.redis.set(f"{self.prefix}:revoked:{jti}", b"1", ex=ttl)

    async def access_allowed(self, jti: str, fam: str) -> bool:
        """Whether an access token is neither revoked nor of an ended family (one round trip)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(f"{self.prefix}:revoked:{jti}")
            pipe.exists(self._family(fam))
            revoked, alive = await pipe.execute()
        return not revoked and bool(alive)
