"""`Authenticator`: who a request is (tokens, API keys), logins, refresh rotation and logout.

One per API process (`app.state.auth`), on the API's pool (dict rows, search_path = read-model schema)
and Redis client. Keys are checked in PostgreSQL only, so ingest with a key keeps working while Redis
is away; tokens need Redis (revocation, refresh families) and answer 503 without it, never a pass.
Keys verified in the last `KEY_GRACE` seconds are still accepted while PostgreSQL is unreachable
(`ems.api.security.recent_keys`), so ingest and `/health` go on through a PostgreSQL outage.
The JWT secret is `EMS_JWT_SECRET`, or else one random secret stored in Redis with `SET NX` (see
`ems.api.security.sessions`) and read again every minute, so every API process signs with the same.
Production should set `EMS_JWT_SECRET`: then tokens survive a Redis that loses its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from ems.api.db import autocommit
from ems.api.errors import Unavailable
from ems.api.security import store
from ems.api.security.accounts import Accounts, normalize_name
from ems.api.security.credentials import find_credential
from ems.api.security.errors import Forbidden, Unauthorized
from ems.api.security.key_notices import KeyNotices
from ems.api.security.keys import ParsedKey, parse_key, secret_matches
from ems.api.security.passwords import MAX_LENGTH, Passwords
from ems.api.security.principal import PERMISSIONS, ROLE_PERMISSIONS, Principal
from ems.api.security.recent_keys import RecentKeys, Verified
from ems.api.security.sessions import Sessions
from ems.api.security.store import UserInfo
from ems.api.security.tokens import TokenClaims, TokenCodec, TokenPair
from ems.settings import Settings
from ems.streams.heartbeat import namespace

log = logging.getLogger(__name__)
SECRET_RECHECK = 60.0  # s between re-reads of the Redis-shared JWT secret
KEY_TOUCH_EVERY = 60  # s: a key's last_used_at is written at most this often
KEY_GRACE = 300.0  # s: a key verified this recently is accepted while PostgreSQL is unreachable
KEY_LOOKUP_WAIT = 1.0  # s waited for a connection to look up such a key (the request has more to do)
BAD_LOGIN = "invalid name or password"


class Authenticator(Accounts):
    """Authentication and sessions (this module) plus user/key management (`Accounts`)."""

    def __init__(self, settings: Settings, pool: AsyncConnectionPool, redis: Redis) -> None:
        self.settings, self.pool, self.redis = settings, pool, redis
        self.sessions = Sessions(redis, f"{namespace(settings)}:auth", settings.refresh_token_ttl)
        self.passwords = Passwords(
            settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism
        )
        self._hashing = asyncio.Semaphore(settings.argon2_concurrency)
        self._codec: TokenCodec | None = None
        self._codec_read_at = 0.0
        self._codec_lock = asyncio.Lock()
        self.recent_keys = RecentKeys(KEY_GRACE)
        # Reuse of recent verifications: off until `notices.run()` listens (the API's lifespan starts it).
        self.notices = KeyNotices(
            settings.database_url.get_secret_value(), settings.api_key_cache, settings.retry_cap
        )
        if settings.jwt_secret is not None:  # refused at start when too short, not at the first login
            self._codec = self._make_codec(settings.jwt_secret.get_secret_value())

    # -- the signing secret -----------------------------------------------------------------------------
    def _make_codec(self, secret: str) -> TokenCodec:
        s = self.settings
        return TokenCodec(secret, s.jwt_issuer, s.access_token_ttl, s.refresh_token_ttl)

    async def codec(self) -> TokenCodec:
        """The token codec, with the configured secret or the one shared through Redis."""
        if self.settings.jwt_secret is not None:
            assert self._codec is not None
            return self._codec
        if self._codec is not None and time.monotonic() - self._codec_read_at < SECRET_RECHECK:
            return self._codec
        async with self._codec_lock:
            if self._codec is None or time.monotonic() - self._codec_read_at >= SECRET_RECHECK:
                mine = self._codec.key.decode() if self._codec else secrets.token_urlsafe(48)
                try:
                    shared = await self.sessions.shared_secret(mine)
                except (RedisError, OSError) as exc:
                    if self._codec is None:
                        raise Unavailable(
                            f"Redis is unavailable: no JWT secret ({type(exc).__name__})"
                        ) from None
                    log.warning("JWT secret not re-read from Redis (%s); keeping the current one", exc)
                else:
                    if self._codec is None or shared != mine:
                        self._codec = self._make_codec(shared)
                self._codec_read_at = time.monotonic()
        assert self._codec is not None
        return self._codec

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[None]:
        """Redis failures as 503s: a session that cannot be checked is not let through."""
        try:
            yield
        except (RedisError, OSError) as exc:
            raise Unavailable(
                f"Redis is unavailable: sessions cannot be checked ({type(exc).__name__})"
            ) from None

    # -- requests ---------------------------------------------------------------------------------------
    async def authenticate(self, request: HTTPConnection) -> Principal | None:
        """The principal of the request; None without credentials; `Unauthorized` for bad ones."""
        credential = find_credential(request)
        if credential is None:
            return None
        if credential.kind == "key":
            return await self.authenticate_key(credential.value)
        return await self.authenticate_token(credential.value)

    async def authenticate_token(self, token: str) -> Principal:
        """The user of an access token, as the user is now (role, tenant, not disabled)."""
        claims = (await self.codec()).verify(token, "access")
        async with self._redis():
            allowed = await self.sessions.access_allowed(claims.jti, claims.fam)
        if not allowed:
            raise Unauthorized("token revoked")
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, claims.sub)
        user = self._current(row, claims)
        return Principal(
            name=user.name,
            kind="user",
            role=user.role,
            permissions=ROLE_PERMISSIONS.get(user.role, frozenset()),
            tenant=user.tenant,
            token=claims,
        )

    @staticmethod
    def _current(row: dict[str, Any] | None, claims: TokenClaims) -> UserInfo:
        """The user of a token, unless deleted, disabled or changed since the token was issued."""
        if row is None or row["disabled"]:
            raise Unauthorized("token revoked")
        valid_after = row["tokens_valid_after"]
        if valid_after is not None and claims.iat < valid_after.timestamp():
            raise Unauthorized("token revoked")
        return UserInfo.of(row)

    async def authenticate_key(self, text: str) -> Principal:
        """The principal of an API key, unless unknown, revoked or expired."""
        parsed = parse_key(text)
        if parsed is None:
            raise Unauthorized("invalid API key")
        try:
            return await self._lookup_key(parsed)
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            principal = self.recent_keys.principal(parsed, time.monotonic(), datetime.now(UTC))
            if principal is None:
                raise
            log.debug("key %s accepted as verified before; PostgreSQL: %s", parsed.key_id, exc)
            return principal

    async def _lookup_key(self, parsed: ParsedKey) -> Principal:
        started = time.monotonic()
        entry = self.recent_keys.entry(parsed.key_id)
        if entry is not None and self.notices.reusable(entry.at, started):
            return self.recent_keys.checked(entry, parsed, datetime.now(UTC))
        known = self.recent_keys.knows(parsed.key_id, started)
        async with autocommit(self.pool, timeout=KEY_LOOKUP_WAIT if known else None) as conn:
            row = await store.fetch_key(conn, parsed.key_id)
            expired = row is not None and row["expires_at"] is not None and row["expires_at"] <= row["now"]
            if row is None or row["revoked_at"] is not None or expired:
                self.recent_keys.forget(parsed.key_id)  # the key itself is no good any more
            if row is None or not secret_matches(parsed.secret, row["secret_hash"]):
                raise Unauthorized("invalid API key")
            if row["revoked_at"] is not None:
                raise Unauthorized("API key revoked")
            if expired:
                raise Unauthorized("API key expired")
            last = row["last_used_at"]
            if last is None or row["now"] - last >= timedelta(seconds=KEY_TOUCH_EVERY):
                try:
                    async with conn.transaction():  # a savepoint: a failed touch fails nothing else
                        await store.touch_key(conn, parsed.key_id, KEY_TOUCH_EVERY)
                except psycopg.errors.Error as exc:
                    log.warning("last use of key %s not recorded: %s", parsed.key_id, exc)
        principal = Principal(
            name=row["name"],
            kind="key",
            role=None,
            permissions=frozenset(row["scopes"]) & PERMISSIONS,
            tenant=row["tenant"],
            key_id=row["key_id"],
        )
        # When the lookup started: a revocation noticed after that makes it unusable for reuse.
        entry = Verified(row["secret_hash"], principal, row["expires_at"], started)
        self.recent_keys.remember(parsed.key_id, entry)
        return principal

    # -- sessions ---------------------------------------------------------------------------------------
    async def login(self, name: str, password: str) -> TokenPair:
        """A new session for a good name and password; `Unauthorized` (one reason) otherwise."""
        name = normalize_name(name)
        if not isinstance(password, str) or len(password) > MAX_LENGTH:
            raise Unauthorized(BAD_LOGIN)
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, name)
        stored = row["password_hash"] if row else None
        good = await self._slow(self.passwords.verify, stored, password)
        if not good or row is None or row["disabled"]:
            raise Unauthorized(BAD_LOGIN)
        user = UserInfo.of(row)
        pair = await self._pair(user, secrets.token_urlsafe(16))
        async with self._redis():
            await self.sessions.open_family(pair.refresh.fam, user.name, pair.refresh.jti)
        if self.passwords.needs_rehash(stored):
            await self._rehash(user.name, stored, password)
        return pair

    async def _rehash(self, name: str, old_hash: str, password: str) -> None:
        """Store a hash with the current parameters (best effort: the login stands either way)."""
        try:
            new_hash = await self._slow(self.passwords.hash, password)
            async with self.pool.connection() as conn:
                await store.set_password_hash(conn, name, old_hash, new_hash)
        except psycopg.Error as exc:
            log.warning("password of %s not rehashed: %s", name, exc)

    async def _pair(self, user: UserInfo, fam: str) -> TokenPair:
        codec = await self.codec()
        access, access_claims = codec.issue(user.name, user.role, user.tenant, "access", fam)
        refresh, refresh_claims = codec.issue(user.name, user.role, user.tenant, "refresh", fam)
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            access=access_claims,
            refresh=refresh_claims,
            expires_in=self.settings.access_token_ttl,
            refresh_expires_in=self.settings.refresh_token_ttl,
            user=user,
        )

    async def change_password(self, principal: Principal, current: str, new: str) -> UserInfo:
        """A user changes its own password; every older token of the user is refused from now on, this
        session's too: the client logs in again (`Unauthorized` when `current` is wrong, `Invalid`
        when `new` breaks the policy)."""
        if principal.kind != "user":
            raise Forbidden("only a user has a password")
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, principal.name)
        if row is None or not isinstance(current, str) or len(current) > MAX_LENGTH:
            raise Unauthorized("current password is wrong")
        if not await self._slow(self.passwords.verify, row["password_hash"], current):
            raise Unauthorized("current password is wrong")
        return await self.update_user(principal.name, password=new, actor=principal.actor)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new pair for the family's current refresh token, which is used up. A used one presented
        again revokes the whole family (`Unauthorized`)."""
        claims = (await self.codec()).verify(refresh_token, "refresh")
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, claims.sub)
        try:
            user = self._current(row, claims)
        except Unauthorized:
            async with self._redis():
                await self.sessions.revoke_family(claims.fam)
            raise
        pair = await self._pair(user, claims.fam)
        async with self._redis():
            outcome = await self.sessions.rotate(claims.fam, claims.jti, pair.refresh.jti)
        if outcome == "reused":
            log.warning("refresh token of %s used twice: session %s revoked", user.name, claims.fam[:6])
            raise Unauthorized("refresh token already used: session revoked")
        if outcome == "unknown":
            raise Unauthorized("token revoked")
        return pair

    async def logout(
        self, principal: Principal | TokenClaims | None, refresh_token: str | None = None
    ) -> None:
        """End the session: revoke the access token (a user principal's, or these claims) and its
        refresh family, and the family of `refresh_token` if one is given and valid."""
        claims = principal.token if isinstance(principal, Principal) else principal
        families = {claims.fam} if claims is not None else set()
        if refresh_token:
            # an expired or foreign refresh token has no session to end
            with contextlib.suppress(Unauthorized):
                families.add((await self.codec()).verify(refresh_token, "refresh").fam)
        async with self._redis():
            if claims is not None:
                await self.sessions.revoke_access(claims.jti, claims.exp)
            for fam in families:
                await self.sessions.revoke_family(fam)
