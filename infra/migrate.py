"""SQL migrations: numbered files in `infra/migrations`, applied once each, per read-model schema."""

from __future__ import annotations

import re
from importlib import resources

import psycopg
from psycopg import sql

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def migration_files() -> list[tuple[str, str]]:
    """(name, SQL text) of every migration, in order."""
    folder = resources.files("ems.infra") / "migrations"
    files = sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))
    return files


def check_schema_name(schema: str) -> str:
    """Refuse anything but a plain lower-case identifier as a schema name."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


def migrate(url: str, schema: str) -> list[str]:
    """Create `schema` if needed and apply the migrations it lacks; return the names applied."""
    check_schema_name(schema)
    applied = []
    with psycopg.connect(url, autocommit=False, connect_timeout=10) as conn:
        # One migrator at a time per database (API and worker may start together).
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ems-migrate'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, text in migration_files():
            if name in done:
                continue
            conn.execute(text)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
        conn.commit()
    return applied


def drop_schema(url: str, schema: str) -> None:
    """Drop a read-model schema and everything in it."""
    check_schema_name(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
