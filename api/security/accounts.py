"""User and API-key management: the admin side of `Authenticator` (a mixin; no HTTP, no tokens).

Every change writes its audit row in the same transaction, naming the acting principal's `actor`;
passwords and secrets never appear in it. Slow password hashing runs before the transaction opens.
Changing a user's password, role or tenant, or disabling it, refuses every token issued before.
The last enabled admin cannot be demoted, disabled or deleted (nobody could manage users after).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from ems.api.security import store
from ems.api.security.errors import Conflict, Invalid, NotFound
from ems.api.security.key_notices import KeyNotices
from ems.api.security.keys import check_key_name, hash_secret, new_key
from ems.api.security.passwords import Passwords, check_policy
from ems.api.security.principal import ROLE_PERMISSIONS, ROLES, unknown_permissions
from ems.api.security.store import KeyInfo, UserInfo
from ems.settings import Settings

_USER = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
T = TypeVar("T")


class Unset:
    """Marks an argument not given (None is a value: e.g. tenant None means every tenant)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def normalize_name(name: str) -> str:
    """User names are case-insensitive: kept and compared in lower case, without outer blanks."""
    return name.strip().lower() if isinstance(name, str) else ""


def check_user_name(name: str) -> str:
    """The normalized name, or `Invalid`."""
    normalized = normalize_name(name)
    if not _USER.match(normalized):
        raise Invalid("user name must be 1-64 characters: letters, digits and . _ @ - (not first)")
    return normalized


def check_role(role: str) -> str:
    if role not in ROLE_PERMISSIONS:
        raise Invalid(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


def check_tenant(tenant: str | None) -> str | None:
    if tenant is not None and not _TENANT.match(tenant):
        raise Invalid("tenant must be 1-64 characters: letters, digits and . _ - (not first)")
    return tenant


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes, deduplicated and sorted, or `Invalid` (empty, or unknown permissions)."""
    if not scopes:
        raise Invalid("a key needs at least one scope")
    unknown = unknown_permissions(tuple(scopes))
    if unknown:
        raise Invalid(f"unknown scope(s): {', '.join(unknown)}")
    return sorted(set(scopes))


class Accounts:
    """User and key management on the pool; mixed into `Authenticator`."""

    settings: Settings
    pool: AsyncConnectionPool
    passwords: Passwords
    _hashing: asyncio.Semaphore
    notices: KeyNotices

    async def _slow(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a password hash or verification in a thread, a bounded number at once."""
        async with self._hashing:
            return await asyncio.to_thread(fn, *args)

    # -- users ------------------------------------------------------------------------------------------
    async def create_user(
        self, name: str, password: str, role: str = "viewer", tenant: str | None = None, *, actor: str
    ) -> UserInfo:
        name = check_user_name(name)
        check_role(role)
        check_tenant(tenant)
        check_policy(password, self.settings.password_min_length, name)
        password_hash = await self._slow(self.passwords.hash, password)
        async with self.pool.connection() as conn:
            user = await store.insert_user(conn, name, password_hash, role, tenant)
            if user is None:
                raise Conflict(f"user {name!r} exists")
            await store.audit(conn, actor, "user.create", name, {"role": role, "tenant": tenant})
        return user

    async def list_users(self) -> list[UserInfo]:
        async with self.pool.connection() as conn:
            return await store.list_users(conn)

    async def get_user(self, name: str) -> UserInfo:
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, normalize_name(name))
        if row is None:
            raise NotFound("no such user")
        return UserInfo.of(row)

    async def update_user(
        self,
        name: str,
        *,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
        tenant: str | None = UNSET,
        actor: str,
    ) -> UserInfo:
        """Change the given fields (None/UNSET: keep); returns the user as it now is."""
        name = normalize_name(name)
        if role is not None:
            check_role(role)
        if tenant is not UNSET:
            check_tenant(tenant)
        password_hash = None
        if password is not None:
            check_policy(password, self.settings.password_min_length, name)
            password_hash = await self._slow(self.passwords.hash, password)
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, name, lock=True)
            if row is None:
                raise NotFound("no such user")
            wanted = {"role": role, "disabled": disabled, "tenant": tenant}
            changes = {k: v for k, v in wanted.items() if v is not None and v is not UNSET and v != row[k]}
            if tenant is None and row["tenant"] is not None:
                changes["tenant"] = None
            detail: dict[str, Any] = dict(changes)
            if password_hash is not None:
                changes["password_hash"] = password_hash
                changes["password_changed_at"] = datetime.now(UTC)
                detail["password"] = "changed"
            if not changes:
                return UserInfo.of(row)
            if await self._loses_last_admin(conn, row, changes):
                raise Conflict("the last enabled admin cannot be demoted or disabled")
            if changes.keys() - {"disabled"} or changes.get("disabled"):
                changes["tokens_valid_after"] = datetime.fromtimestamp(time.time(), UTC)
            user = await store.update_user(conn, name, changes)
            await store.audit(conn, actor, "user.update", name, detail)
        assert user is not None  # the row is locked
        return user

    async def delete_user(self, name: str, *, actor: str) -> None:
        name = normalize_name(name)
        async with self.pool.connection() as conn:
            row = await store.fetch_user(conn, name, lock=True)
            if row is None:
                raise NotFound("no such user")
            if await self._loses_last_admin(conn, row, None):
                raise Conflict("the last enabled admin cannot be deleted")
            await store.delete_user(conn, name)
            await store.audit(conn, actor, "user.delete", name, {"role": row["role"]})

    async def _loses_last_admin(self, conn: Any, row: dict[str, Any], changes: dict[str, Any] | None) -> bool:
        """Whether deleting (`changes` None) or changing this user leaves no enabled admin."""
        if row["role"] != "admin" or row["disabled"]:
            return False
        if changes is not None and changes.get("role", "admin") == "admin" and not changes.get("disabled"):
            return False
        return await store.lock_admins(conn) == [row["name"]]

    # -- keys -------------------------------------------------------------------------------------------
    async def create_key(
        self,
        name: str,
        scopes: list[str] | tuple[str, ...],
        tenant: str | None = None,
        expires_at: datetime | None = None,
        owner: str | None = None,
        *,
        actor: str,
    ) -> tuple[KeyInfo, str]:
        """A new key: its info and its plaintext, which is never available again."""
        problem = check_key_name(name)
        if problem:
            raise Invalid(problem)
        kept = check_scopes(scopes)
        check_tenant(tenant)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise Invalid("expires_at needs a time zone")
            if expires_at <= datetime.now(UTC):
                raise Invalid("expires_at is in the past")
        key_id, secret, plaintext = new_key()
        async with self.pool.connection() as conn:
            info = await store.insert_key(
                conn, key_id, name, owner or actor, kept, tenant, expires_at, hash_secret(secret)
            )
            detail = {"name": name, "scopes": kept, "tenant": tenant, "owner": info.owner}
            detail["expires_at"] = expires_at.isoformat() if expires_at else None
            await store.audit(conn, actor, "key.create", key_id, detail)
        return info, plaintext

    async def list_keys(self, name: str | None = None) -> list[KeyInfo]:
        async with self.pool.connection() as conn:
            return await store.list_keys(conn, name)

    async def revoke_key(self, key_id: str, *, actor: str) -> KeyInfo:
        """Revoke the key (at once, in every API process). Revoking a revoked key changes nothing."""
        async with self.pool.connection() as conn:
            info, revoked = await store.revoke_key(conn, key_id)
            if info is None:
                raise NotFound("no such key")
            if revoked:
                await store.audit(conn, actor, "key.revoke", key_id, {"name": info.name})
        self.notices.notice()  # this process at once; the others when PostgreSQL's notice reaches them
        return info

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest first."""
        async with self.pool.connection() as conn:
            return await store.audit_rows(conn, limit)
