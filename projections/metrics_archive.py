"""1-minute rollups written when their raw samples go (`ems metrics retention`).

While a day's raw samples are kept, 1m queries aggregate them and the rollup job writes no 1m row
(`ems.projections.metrics_rollup`). Before retention drops raw partitions, `archive_minutes` writes
the 1m rows of each from its samples, one day per transaction, moving the archived point
(`metric_rollup_archived.upto`) to its end in the same transaction: at every moment 1m rows are
complete below the point and the raw samples are there from it on.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from ems.projections.metric_buckets import RAW, ROLLUPS
from ems.projections.metrics_rollup import ARCHIVED_SQL, WAIT_LOCK_SQL, delete_statement, recompute_statement

MINUTE = ROLLUPS[0]
MOVE_SQL = """
INSERT INTO metric_rollup_archived (id, upto) VALUES (1, %s)
ON CONFLICT (id) DO UPDATE SET upto = greatest(metric_rollup_archived.upto, EXCLUDED.upto)
"""

PARTITION_SQL = """
SELECT to_regclass(format('%%I.%%I', current_schema(),
                          %s || '_p' || to_char(%s AT TIME ZONE 'UTC', 'YYYYMMDD'))) IS NOT NULL
"""


def archived_point(conn: psycopg.Connection) -> datetime | None:
    """How far 1m rows are complete (None: nowhere yet, raw samples serve every minute)."""
    row = conn.execute(ARCHIVED_SQL).fetchone()
    return row[0] if row else None


def archive_minutes(
    conn: psycopg.Connection, days: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """Write the 1m rows of each [lo, hi) of `days` (the raw partitions about to go, in order) from its
    raw samples and move the archived point to its end, one transaction each; return those written.
    A day below the point is done already; one whose 1m partition is gone (past the 1m retention, or
    never made: no sample came) only moves the point. `conn` is in autocommit mode."""
    delete, insert = delete_statement(MINUTE), recompute_statement(MINUTE, RAW)
    point = archived_point(conn)
    written = []
    for lo, hi in days:
        if point is not None and hi <= point:
            continue
        with conn.transaction():
            conn.execute(WAIT_LOCK_SQL)  # no pass recomputes a 5m bucket while its minutes move
            if conn.execute(PARTITION_SQL, (MINUTE.table, lo)).fetchone()[0]:
                conn.execute(delete, (lo, hi))
                conn.execute(insert, (lo, hi))
                written.append((lo, hi))
            conn.execute(MOVE_SQL, (hi,))
    return written
