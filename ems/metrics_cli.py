"""`ems metrics retention`: drop the metric partitions older than each resolution's retention.

Before a raw partition goes, the 1m rollup rows of its days are written from its samples
(`ems.projections.metrics_archive`): until then 1m queries read the raw samples.

Retention works on whole partitions (`DROP TABLE` of a partition is instant and leaves no dead rows):
a partition goes once its *end* is older than `now - retention`, so at most one partition span more than
the retention is kept. It also creates the partitions of the next day ahead of time, so the projection
rarely has to create one in its batch transaction. Run it from cron or a systemd timer, e.g. hourly.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from ems.infra.migrate import check_schema_name
from ems.projections.metrics import RAW, RESOLUTIONS, Resolution
from ems.projections.metrics_archive import archive_minutes
from ems.settings import Settings, get_settings

_SUFFIX = re.compile(r"_p(\d{8})$")
CHILDREN_SQL = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = %s AND p.relname = %s
"""


@dataclass(frozen=True)
class Expired:
    table: str
    partition: str
    end: datetime


def retention_days(settings: Settings) -> dict[str, int]:
    """Days kept per resolution name, from the settings."""
    return {
        "raw": settings.metrics_retention_raw_days,
        "1m": settings.metrics_retention_1m_days,
        "5m": settings.metrics_retention_5m_days,
        "1h": settings.metrics_retention_1h_days,
    }


def partition_start(name: str) -> datetime | None:
    """Start of a partition from its name (<parent>_pYYYYMMDD); None for anything else."""
    m = _SUFFIX.search(name)
    return datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC) if m else None


def expired(res: Resolution, partitions: list[str], now: datetime, days: int) -> list[Expired]:
    """The partitions of `res` whose whole range is older than `now - days` (pure)."""
    cutoff = now - timedelta(days=days)
    out = []
    for name in sorted(partitions):
        start = partition_start(name)
        if start is not None and start + res.span <= cutoff:
            out.append(Expired(res.table, name, start + res.span))
    return out


def enforce_retention(
    settings: Settings, schema: str | None = None, now: datetime | None = None, dry_run: bool = False
) -> list[Expired]:
    """Drop every expired partition (one short transaction each); pre-create tomorrow's partitions."""
    schema = check_schema_name(schema or settings.read_model_schema)
    now = now or datetime.now(UTC)
    days = retention_days(settings)
    url = settings.database_url.get_secret_value()
    dropped: list[Expired] = []
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
        conn.execute("SET lock_timeout = '10s'")  # never queue ingest behind us for long
        children = {
            res.name: [r[0] for r in conn.execute(CHILDREN_SQL, (schema, res.table)).fetchall()]
            for res in RESOLUTIONS
        }
        raw = expired(RAW, children[RAW.name], now, days[RAW.name])
        if raw and not dry_run:  # their minutes first: 1m rows are kept longer than raw samples
            archive_minutes(conn, [(item.end - RAW.span, item.end) for item in raw])
        for res in RESOLUTIONS:
            for item in expired(res, children[res.name], now, days[res.name]):
                if not dry_run:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(item.partition)))
                dropped.append(item)
        if not dry_run:
            for ahead in (now, now + timedelta(days=1)):
                conn.execute("SELECT metric_partitions_for(%s)", (ahead,))
    return dropped


def _retention(args: argparse.Namespace) -> int:
    now = datetime.fromisoformat(args.now).astimezone(UTC) if args.now else None
    try:
        dropped = enforce_retention(get_settings(), args.schema, now, args.dry_run)
    except psycopg.Error as exc:  # e.g. the lock timeout behind a long rollup pass or a busy table
        print(
            f"error: PostgreSQL: {type(exc).__name__}: {exc}; a raw partition is dropped only once its "
            "1m rows are written, so nothing was lost: run it again",
            file=sys.stderr,
        )
        return 1
    verb = "would drop" if args.dry_run else "dropped"
    for item in dropped:
        print(f"{verb} {item.partition} (ended {item.end.isoformat()})")
    print(f"{verb} {len(dropped)} partition(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems metrics …` to the CLI."""
    p = sub.add_parser("metrics", help="metric store maintenance")
    msub = p.add_subparsers(dest="metrics_command", required=True)
    r = msub.add_parser("retention", help="drop metric partitions past their retention")
    r.add_argument("--schema", default=None, help="read-model schema (default: EMS_READ_MODEL_SCHEMA)")
    r.add_argument("--now", default=None, help="ISO-8601 time to measure ages from (default: now)")
    r.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")
    r.set_defaults(fn=_retention)
