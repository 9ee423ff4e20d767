"""`ems users` / `ems keys` on real PostgreSQL, run as a user would: secrets printed once, only the new
one, refusals with a reason and exit code 1, every change audited."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from ems.api.security.passwords import Passwords
from ems.infra.migrate import drop_schema

CHEAP = {"EMS_ARGON2_TIME_COST": "1", "EMS_ARGON2_MEMORY_COST": "256", "EMS_ARGON2_PARALLELISM": "1"}


@pytest.fixture
def env(servers: dict[str, str]) -> Iterator[dict[str, str]]:
    schema = f"auth_cli_{uuid.uuid4().hex[:10]}"
    yield {**os.environ, **servers, **CHEAP, "EMS_READ_MODEL_SCHEMA": schema}
    drop_schema(servers["EMS_DATABASE_URL"], schema)


def ems(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ems.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows(env: dict[str, str], query: str) -> list[tuple]:
    with psycopg.connect(
        env["EMS_DATABASE_URL"], options=f"-c search_path={env['EMS_READ_MODEL_SCHEMA']}"
    ) as c:
        return c.execute(query).fetchall()


def test_users_are_created_and_listed_with_the_password_shown_once(env) -> None:
    done = ems(env, "users", "create", "Alice", "--admin")  # a fresh database: migrations run first
    assert done.returncode == 0, done.stderr
    assert "created user alice (role admin, every tenant)" in done.stdout
    (password,) = re.findall(r"password \(shown once\): (\S+)", done.stdout)
    ((stored,),) = rows(env, "SELECT password_hash FROM users WHERE name = 'alice'")
    assert Passwords(1, 256, 1).verify(stored, password)

    again = ems(env, "users", "create", "alice")
    assert again.returncode == 1 and again.stderr.strip() == "error: user 'alice' exists"
    short = ems(env, "users", "create", "bob", "--password-stdin", stdin="too short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    bob = ems(
        env,
        "users",
        "create",
        "bob",
        "--role",
        "operator",
        "--tenant",
        "acme",
        "--password-stdin",
        stdin="a long enough one\n",
    )
    assert bob.returncode == 0 and "shown once" not in bob.stdout and "a long enough one" not in bob.stdout
    ((stored,),) = rows(env, "SELECT password_hash FROM users WHERE name = 'bob'")
    assert Passwords(1, 256, 1).verify(stored, "a long enough one")  # the newline is not part of it

    listed = ems(env, "users", "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[1].split()[:4] == ["alice", "admin", "*", "enabled"]
    assert lines[2].split()[:4] == ["bob", "operator", "acme", "enabled"]
    assert password not in listed.stdout and "argon2" not in listed.stdout

    assert ems(env, "users", "disable", "bob").returncode == 0
    assert rows(env, "SELECT disabled FROM users WHERE name = 'bob'") == [(True,)]
    reset = ems(env, "users", "set-password", "alice")
    (new_password,) = re.findall(r"password \(shown once\): (\S+)", reset.stdout)
    ((stored,),) = rows(env, "SELECT password_hash FROM users WHERE name = 'alice'")
    assert new_password != password and Passwords(1, 256, 1).verify(stored, new_password)
    actions = rows(env, "SELECT actor, action, target FROM audit_log ORDER BY id")
    assert [a[1:] for a in actions] == [
        ("user.create", "alice"),
        ("user.create", "bob"),
        ("user.update", "bob"),
        ("user.update", "alice"),
    ]
    assert all(a[0].startswith("cli") for a in actions)


def test_keys_are_created_listed_and_revoked(env) -> None:
    done = ems(env, "keys", "create", "alertmanager", "--scope", "write:observations", "--expires-days", "30")
    assert done.returncode == 0, done.stderr
    (key,) = re.findall(r"key \(shown once\): (\S+)", done.stdout)
    key_id, secret = re.fullmatch(r"ems_([0-9a-f]{16})_(\S+)", key).groups()
    ((stored, scopes, seconds),) = rows(
        env, "SELECT secret_hash, scopes, extract(epoch FROM expires_at - created_at) FROM api_keys"
    )
    assert (
        stored == hashlib.sha256(secret.encode()).hexdigest()
        and scopes == ["write:observations"]
        and abs(seconds - 30 * 86400) < 60
    )

    bad = ems(env, "keys", "create", "x", "--scope", "write:everything")
    assert bad.returncode == 1 and "unknown scope(s): write:everything" in bad.stderr
    assert ems(env, "keys", "create", "x", "--scope", "read:alerts", "--expires-days", "0").returncode == 2

    listed = ems(env, "keys", "list")
    assert key_id in listed.stdout and secret not in listed.stdout and stored not in listed.stdout
    assert listed.stdout.splitlines()[1].split()[:3] == [key_id, "alertmanager", "active"]

    revoked = ems(env, "keys", "revoke", key_id)
    assert revoked.returncode == 0 and f"key {key_id} 'alertmanager' revoked" in revoked.stdout
    assert rows(env, "SELECT revoked_at IS NOT NULL FROM api_keys") == [(True,)]
    assert ems(env, "keys", "list").stdout.splitlines()[1].split()[2] == "revoked"
    missing = ems(env, "keys", "revoke", "0" * 16)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no such key"
