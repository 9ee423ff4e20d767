"""Users, API keys and the audit log in PostgreSQL (tables of `infra/migrations/006_auth.sql`).

Why these are not event-sourced through Kafka like the rest of the platform:
- A credential's secret part (the argon2id hash of a password, the SHA-256 of a key secret) must not
  sit in a retained log: Kafka topics keep records for their retention (or forever when compacted),
  replicate them to every broker and every consumer's copy, and offer no way to erase one record. A
  leaked or retired hash would stay readable. A table row is overwritten or deleted for good.
- Revocation must be immediate: disabling a user or revoking a key takes effect on the next request,
  in every API process, because each request reads the current row. Through a topic it would wait for
  a projection to catch up (seconds, or the whole outage when a stage is down).
What the log gives us for the other models — who changed what, when — is kept by `audit_log` rows
written in the same transaction as each change (never with a secret in them).

The functions take a connection of the API's pool (dict rows, search_path = the read-model schema);
callers own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from ems.api.security import key_notices

USER_COLUMNS = "name, role, tenant, disabled, created_at, updated_at, password_changed_at"
KEY_COLUMNS = "key_id, name, owner, scopes, tenant, created_at, expires_at, last_used_at, revoked_at"
UPDATABLE = ("password_hash", "role", "tenant", "disabled", "password_changed_at", "tokens_valid_after")


@dataclass(frozen=True)
class UserInfo:
    """A user as shown to admins (no password hash)."""

    name: str
    role: str
    tenant: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> UserInfo:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class KeyInfo:
    """An API key as shown to admins (no secret, no hash)."""

    key_id: str
    name: str
    owner: str | None
    scopes: tuple[str, ...]
    tenant: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> KeyInfo:
        fields = {k: row[k] for k in cls.__dataclass_fields__}
        return cls(**{**fields, "scopes": tuple(row["scopes"])})


# -- users -------------------------------------------------------------------------------------------
async def fetch_user(conn: AsyncConnection, name: str, lock: bool = False) -> dict[str, Any] | None:
    """The user's row, hash and tokens_valid_after included (None when there is none)."""
    query = "SELECT * FROM users WHERE name = %s" + (" FOR UPDATE" if lock else "")
    cur = await conn.execute(query, (name,))
    return await cur.fetchone()


async def list_users(conn: AsyncConnection) -> list[UserInfo]:
    cur = await conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY name")
    return [UserInfo.of(r) for r in await cur.fetchall()]


async def insert_user(
    conn: AsyncConnection, name: str, password_hash: str, role: str, tenant: str | None
) -> UserInfo | None:
    """Insert the user; None when a user of that name exists (nothing written)."""
    cur = await conn.execute(
        f"INSERT INTO users (name, password_hash, role, tenant) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (name) DO NOTHING RETURNING {USER_COLUMNS}",
        (name, password_hash, role, tenant),
    )
    row = await cur.fetchone()
    return UserInfo.of(row) if row else None


async def update_user(conn: AsyncConnection, name: str, changes: dict[str, Any]) -> UserInfo | None:
    """Set `changes` (columns of UPDATABLE) and updated_at; None when the user does not exist."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    sets = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in changes]
    query = sql.SQL("UPDATE users SET {}, updated_at = now() WHERE name = %s RETURNING {}").format(
        sql.SQL(", ").join(sets), sql.SQL(USER_COLUMNS)
    )
    cur = await conn.execute(query, (*changes.values(), name))
    row = await cur.fetchone()
    return UserInfo.of(row) if row else None


async def set_password_hash(conn: AsyncConnection, name: str, old_hash: str, new_hash: str) -> None:
    """Replace a hash by a rehash of the same password (new parameters); not a password change."""
    await conn.execute(
        "UPDATE users SET password_hash = %s WHERE name = %s AND password_hash = %s",
        (new_hash, name, old_hash),
    )


async def delete_user(conn: AsyncConnection, name: str) -> bool:
    cur = await conn.execute("DELETE FROM users WHERE name = %s", (name,))
    return cur.rowcount > 0


async def lock_admins(conn: AsyncConnection) -> list[str]:
    """The enabled admins, locked until the transaction ends (one admin change at a time)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ems-users-admins'))")
    cur = await conn.execute("SELECT name FROM users WHERE role = 'admin' AND NOT disabled ORDER BY name")
    return [r["name"] for r in await cur.fetchall()]


# -- keys ----------------------------------------------------------------------------------------------
async def insert_key(
    conn: AsyncConnection,
    key_id: str,
    name: str,
    owner: str | None,
    scopes: list[str],
    tenant: str | None,
    expires_at: datetime | None,
    secret_hash: str,
) -> KeyInfo:
    cur = await conn.execute(
        f"INSERT INTO api_keys (key_id, name, owner, scopes, tenant, expires_at, secret_hash) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}",
        (key_id, name, owner, scopes, tenant, expires_at, secret_hash),
    )
    return KeyInfo.of(await cur.fetchone())


async def fetch_key(conn: AsyncConnection, key_id: str) -> dict[str, Any] | None:
    """The key's row with its hash, and the database's `now` (expiry is judged on its clock)."""
    cur = await conn.execute(
        f"SELECT {KEY_COLUMNS}, secret_hash, now() AS now FROM api_keys WHERE key_id = %s", (key_id,)
    )
    return await cur.fetchone()


async def touch_key(conn: AsyncConnection, key_id: str, every_seconds: int) -> None:
    """Record a use, unless one was recorded less than `every_seconds` ago (by any process)."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE key_id = %s "
        "AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => %s))",
        (key_id, every_seconds),
    )


async def list_keys(conn: AsyncConnection, name: str | None = None) -> list[KeyInfo]:
    where, params = ("WHERE name = %s", (name,)) if name is not None else ("", ())
    cur = await conn.execute(
        f"SELECT {KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at, key_id", params
    )
    return [KeyInfo.of(r) for r in await cur.fetchall()]


async def revoke_key(conn: AsyncConnection, key_id: str) -> tuple[KeyInfo | None, bool]:
    """Revoke the key; (its info or None when unknown, whether this call revoked it)."""
    cur = await conn.execute(
        f"UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL "
        f"RETURNING {KEY_COLUMNS}",
        (key_id,),
    )
    row = await cur.fetchone()
    if row:
        # Every API process reuses keys it verified recently until a notice says otherwise
        # (ems.api.security.key_notices); sent when this transaction commits, never before.
        await conn.execute("SELECT pg_notify(%s, %s)", (key_notices.CHANNEL, key_id))
        return KeyInfo.of(row), True
    cur = await conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,))
    row = await cur.fetchone()
    return (KeyInfo.of(row) if row else None), False


# -- audit ----------------------------------------------------------------------------------------------
async def audit(conn: AsyncConnection, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit row, in the caller's transaction (it commits with the change or not at all)."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (actor, action, target, Jsonb(detail)),
    )


async def audit_rows(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    """The newest audit rows, newest first."""
    cur = await conn.execute(
        "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT %s", (limit,)
    )
    return list(await cur.fetchall())
