"""`ems users` and `ems keys`: manage API users and keys from a shell (PostgreSQL only, no API needed).

    ems users create NAME [--admin | --role R] [--tenant T] [--password-stdin]
    ems users list
    ems users set-password NAME [--password-stdin]     (e.g. an admin who lost theirs)
    ems users disable NAME | ems users enable NAME
    ems keys create NAME --scope write:observations [--scope ...] [--expires-days N] [--tenant T]
    ems keys list
    ems keys revoke KEY_ID

The migrations are applied first, so this works on a fresh database. A password not given on stdin is
generated and printed once; a key is printed once at creation. Nothing else secret is ever printed.
Changes are audited with the actor `cli:<os user>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ems.api.security.authenticate import Authenticator
from ems.api.security.errors import SecurityError
from ems.api.security.passwords import random_password
from ems.api.security.principal import PERMISSIONS, ROLES
from ems.infra.migrate import migrate
from ems.settings import Settings, get_settings
from ems.streams.heartbeat import redis_client


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli"


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): one line from stdin with --password-stdin, else a random one."""
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line, False
    return random_password(), True


def _tenant(tenant: str | None) -> str:
    return f"tenant {tenant}" if tenant else "every tenant"


async def _with_auth(settings: Settings, work: Callable[[Authenticator], Awaitable[int]]) -> int:
    url = settings.database_url.get_secret_value()
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=1,
        kwargs={"options": f"-c search_path={settings.read_model_schema}", "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=settings.db_connect_timeout * 3)
    redis = redis_client(settings)  # not used by these commands: no connection is made
    try:
        return await work(Authenticator(settings, pool, redis))
    finally:
        await pool.close()
        await redis.aclose()


# -- users ------------------------------------------------------------------------------------------------
async def _users_create(auth: Authenticator, args: argparse.Namespace) -> int:
    role = "admin" if args.admin else args.role
    password, generated = _password(args)
    user = await auth.create_user(args.name, password, role, args.tenant, actor=_actor())
    print(f"created user {user.name} (role {user.role}, {_tenant(user.tenant)})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


async def _users_list(auth: Authenticator, args: argparse.Namespace) -> int:
    users = await auth.list_users()
    print(f"{'NAME':<24} {'ROLE':<9} {'TENANT':<16} {'STATE':<9} PASSWORD CHANGED")
    for u in users:
        state = "disabled" if u.disabled else "enabled"
        changed = f"{u.password_changed_at:%Y-%m-%d %H:%M}"
        print(f"{u.name:<24} {u.role:<9} {u.tenant or '*':<16} {state:<9} {changed}")
    print(f"{len(users)} user{'' if len(users) == 1 else 's'}", file=sys.stderr)
    return 0


async def _users_set_password(auth: Authenticator, args: argparse.Namespace) -> int:
    password, generated = _password(args)
    user = await auth.update_user(args.name, password=password, actor=_actor())
    print(f"password of {user.name} changed; its sessions are ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


async def _users_enable(auth: Authenticator, args: argparse.Namespace) -> int:
    disabled = args.users_command == "disable"
    user = await auth.update_user(args.name, disabled=disabled, actor=_actor())
    print(f"user {user.name} {'disabled: its sessions are ended' if disabled else 'enabled'}")
    return 0


# -- keys -------------------------------------------------------------------------------------------------
async def _keys_create(auth: Authenticator, args: argparse.Namespace) -> int:
    expires = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
    info, key = await auth.create_key(args.name, args.scope, args.tenant, expires, actor=_actor())
    until = f"expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "no expiry"
    scopes = ", ".join(info.scopes)
    print(f"created key {info.key_id} {info.name!r} (scopes {scopes}; {_tenant(info.tenant)}; {until})")
    print(f"key (shown once): {key}")
    return 0


async def _keys_list(auth: Authenticator, args: argparse.Namespace) -> int:
    keys = await auth.list_keys()
    print(f"{'KEY ID':<17} {'NAME':<24} {'STATE':<8} {'EXPIRES':<17} {'LAST USED':<17} SCOPES")
    for k in keys:
        now = datetime.now(UTC)
        state = "revoked" if k.revoked_at else "expired" if k.expires_at and k.expires_at <= now else "active"
        expires = f"{k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at else "never"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        print(f"{k.key_id:<17} {k.name:<24} {state:<8} {expires:<17} {used:<17} {','.join(k.scopes)}")
    print(f"{len(keys)} key{'' if len(keys) == 1 else 's'}", file=sys.stderr)
    return 0


async def _keys_revoke(auth: Authenticator, args: argparse.Namespace) -> int:
    info = await auth.revoke_key(args.key_id, actor=_actor())
    print(f"key {info.key_id} {info.name!r} revoked at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        migrate(settings.database_url.get_secret_value(), settings.read_model_schema)
        return asyncio.run(_with_auth(settings, lambda auth: args.action(auth, args)))
    except SecurityError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 1
    except (psycopg.Error, TimeoutError) as exc:
        print(f"error: PostgreSQL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems users` and `ems keys` to the CLI."""
    users = sub.add_parser("users", help="manage API users (PostgreSQL)").add_subparsers(
        dest="users_command", required=True
    )
    p = users.add_parser("create", help="create a user; prints a generated password once")
    p.add_argument("name")
    role = p.add_mutually_exclusive_group()
    role.add_argument("--admin", action="store_true", help="same as --role admin")
    role.add_argument("--role", choices=ROLES, default="viewer", help="default: viewer")
    p.add_argument("--tenant", help="restrict the user to one tenant (default: every tenant)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(fn=_run, action=_users_create)
    users.add_parser("list", help="list users").set_defaults(fn=_run, action=_users_list)
    p = users.add_parser("set-password", help="set a user's password; ends its sessions")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(fn=_run, action=_users_set_password)
    for verb in ("disable", "enable"):
        p = users.add_parser(
            verb, help=f"{verb} a user" + ("; ends its sessions" if verb == "disable" else "")
        )
        p.add_argument("name")
        p.set_defaults(fn=_run, action=_users_enable)

    keys = sub.add_parser("keys", help="manage API keys (PostgreSQL)").add_subparsers(
        dest="keys_command", required=True
    )
    p = keys.add_parser("create", help="create a key; prints it once")
    p.add_argument("name")
    p.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="PERMISSION",
        help=f"a permission of the key, repeatable: {', '.join(sorted(PERMISSIONS))}",
    )
    p.add_argument("--expires-days", type=_positive, help="days until the key stops working")
    p.add_argument("--tenant", help="restrict the key to one tenant (default: every tenant)")
    p.set_defaults(fn=_run, action=_keys_create)
    keys.add_parser("list", help="list keys (never their secrets)").set_defaults(fn=_run, action=_keys_list)
    p = keys.add_parser("revoke", help="revoke a key at once")
    p.add_argument("key_id")
    p.set_defaults(fn=_run, action=_keys_revoke)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of days")
    return value
