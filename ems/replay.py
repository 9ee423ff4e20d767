"""`ems replay`: rebuild every read model from offset 0 into a fresh schema, optionally swap it in.

Steps:
1. Drop and re-create the target schema with the current migrations (a new projection version).
2. Run every projection in rebuild mode: from offset 0 up to the end offsets seen at its start.
3. Print the row counts of the rebuilt tables.
4. With `--swap`: in one transaction rename the live schema to `<live>_old_<n>` and the rebuilt one
   to the live name (stop the projection workers first; they resume from the rebuilt checkpoints).
   The tables no topic holds (users, API keys, their audit log) are moved over, not rebuilt.
"""

from __future__ import annotations

import asyncio

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ems.infra.migrate import check_schema_name, drop_schema, migrate
from ems.projections.runner import ProjectionRunner
from ems.settings import Settings
from ems.worker import projections_for

READ_MODEL_TABLES = ("events", "alerts", "alert_history", "projection_checkpoint")
READ_MODEL_TABLES += (
    "metric_series",
    "metric_samples",
    "metric_rollup_1m",
    "metric_rollup_5m",
    "metric_rollup_1h",
    "metric_rollup_pending",
    "metric_rollup_state",
    "metric_rollup_archived",
)
READ_MODEL_TABLES += ("assets", "asset_dependencies", "asset_changes")
READ_MODEL_TABLES += ("incidents", "incident_members", "incident_history", "alert_incidents")
READ_MODEL_TABLES += ("incident_rca_feedback", "rca_models", "rca_model_live")
READ_MODEL_TABLES += ("tickets", "ticket_comments", "ticket_links", "sla_timers", "ticket_history")
READ_MODEL_TABLES += ("silences", "maintenance_windows", "suppression_history")
READ_MODEL_TABLES += ("notification_decisions", "notification_attempts", "alert_muting")
# Not derived from Kafka (api/security/store.py): a swap moves the live rows into the rebuilt schema.
KEPT_TABLES = ("users", "api_keys", "audit_log")


async def rebuild(settings: Settings, target: str, console: Console | None = None) -> dict[str, int]:
    """Steps 1-2: rebuild into `target`; return records read per projection."""
    url = settings.database_url.get_secret_value()
    drop_schema(url, target)
    migrate(url, target)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        runners = []
        for projection in projections_for(settings):
            task = bar.add_task(f"replay {projection.name}", total=None)
            runner = ProjectionRunner(settings, projection, target, follow=False)

            def advance(n: int, task=task, runner=runner) -> None:
                bar.update(task, advance=n, total=runner.total or None)

            runner.progress = advance
            runners.append(runner)
        await asyncio.gather(*(r.run() for r in runners))
    return {r.projection.name: r.applied for r in runners}


def table_counts(url: str, schema: str) -> dict[str, int]:
    """Row count of each read-model table in `schema`."""
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(t))
            ).fetchone()[0]
            for t in READ_MODEL_TABLES
        }


def swap_schemas(url: str, live: str, rebuilt: str) -> str:
    """Step 4: make `rebuilt` the live schema; return the name the old one was kept under."""
    check_schema_name(live)
    check_schema_name(rebuilt)
    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        n = 1
        while f"{live}_old_{n}" in names:
            n += 1
        old = check_schema_name(f"{live}_old_{n}")
        with conn.transaction():
            for table in KEPT_TABLES:
                if conn.execute("SELECT to_regclass(%s)", (f"{live}.{table}",)).fetchone()[0] is None:
                    continue
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(*map(sql.Identifier, (rebuilt, table)))
                )
                conn.execute(
                    sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                        *map(sql.Identifier, (live, table, rebuilt))
                    )
                )
            conn.execute(
                sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(live), sql.Identifier(old))
            )
            conn.execute(
                sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(rebuilt), sql.Identifier(live))
            )
    return old


def replay(settings: Settings, target: str | None = None, swap: bool = False) -> int:
    """The CLI command; returns the exit code."""
    console = Console(stderr=True)
    target = check_schema_name(target or f"{settings.read_model_schema}_rebuild")
    read = asyncio.run(rebuild(settings, target, console))
    url = settings.database_url.get_secret_value()
    counts = table_counts(url, target)
    console.print(f"rebuilt schema [bold]{target}[/]: records read {read}; rows {counts}")
    if swap:
        old = swap_schemas(url, settings.read_model_schema, target)
        console.print(f"swapped: {target} is now {settings.read_model_schema}; the old one is kept as {old}")
    return 0
