"""What a projection is: a pure mapping from one record to rows of declared upserts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from psycopg import sql

from ems.schemas.envelope import Record
from ems.streams.codecs import decode, decode_trusted

Row = tuple[object, ...]


def columns_and_types(table: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The column names and the PostgreSQL types (`Upsert.copy_types`) of (column, type) pairs, declared
    together so that a column and its type are one line."""
    return tuple(column for column, _ in table), tuple(kind for _, kind in table)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a dict key per row in the runner
class Upsert:
    """An `INSERT ... ON CONFLICT` statement template for one table.

    `conflict` is the unique key. With `version` set, a conflicting row is replaced only by a row of
    a higher version (and rows of one batch are first collapsed to the highest version per key);
    without it, the first row wins (`DO NOTHING`), which makes re-applied appends harmless.

    With `direct` (unversioned append-only tables whose rows are nearly always new), a large batch is
    first copied straight into the table in a savepoint: one plain row each, no staging and no
    speculative insertion; a unique violation rolls that back and the batch takes the staged path.

    With `copy_types` (PostgreSQL type names, one per column, exactly the staging table's), the
    COPYs use the binary format: for a timestamp or a number about a seventh of the text format's
    Python time (docs/performance.md, "Collector mix").
    """

    table: str
    columns: tuple[str, ...]
    conflict: tuple[str, ...]
    version: str | None = None
    direct: bool = False
    copy_types: tuple[str, ...] | None = None
    _key_idx: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key_idx", tuple(self.columns.index(c) for c in self.conflict))

    def key_of(self, row: Row) -> Row:
        return tuple(row[i] for i in self._key_idx)

    def collapse(self, rows: Sequence[Row]) -> list[Row]:
        """Keep one row per key: the highest version (versioned), else the first one seen."""
        best: dict[Row, Row] = {}
        if self.version is None:
            for row in rows:
                best.setdefault(self.key_of(row), row)
        else:
            v = self.columns.index(self.version)
            for row in rows:
                key = self.key_of(row)
                kept = best.get(key)
                if kept is None or row[v] > kept[v]:
                    best[key] = row
        return list(best.values())

    @property
    def stage(self) -> str:
        """The session's temporary staging table for COPY (see `ems.projections.runner`)."""
        return f"stage_{self.table}"

    def statement(self) -> sql.Composed:
        """INSERT of one row (unqualified table: the runner sets the search_path)."""
        values = sql.SQL(", ").join(sql.Placeholder() * len(self.columns))
        return self._insert(sql.SQL("VALUES ({})").format(values))

    def stage_statements(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        """(create the staging table, COPY into it, INSERT … SELECT from it into the table)."""
        stage, cols = sql.Identifier(self.stage), sql.SQL(", ").join(map(sql.Identifier, self.columns))
        create = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(stage, sql.Identifier(self.table))
        copy = sql.SQL("COPY {} ({}) FROM STDIN{}").format(stage, cols, self._format)
        return create, copy, self._insert(sql.SQL("SELECT {} FROM {}").format(cols, stage))

    def direct_copy(self) -> sql.Composed:
        """COPY straight into the table (see `direct`)."""
        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        return sql.SQL("COPY {} ({}) FROM STDIN{}").format(sql.Identifier(self.table), cols, self._format)

    @property
    def _format(self) -> sql.SQL:
        return sql.SQL(" (FORMAT BINARY)" if self.copy_types else "")

    def _insert(self, source: sql.Composable) -> sql.Composed:
        table = sql.Identifier(self.table)
        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        conflict = sql.SQL(", ").join(map(sql.Identifier, self.conflict))
        head = sql.SQL("INSERT INTO {} ({}) {} ON CONFLICT ({}) ").format(table, cols, source, conflict)
        if self.version is None:
            return head + sql.SQL("DO NOTHING")
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in self.columns
            if c not in self.conflict
        )
        return head + sql.SQL("DO UPDATE SET {} WHERE {}.{} < EXCLUDED.{}").format(
            sets, table, sql.Identifier(self.version), sql.Identifier(self.version)
        )


@dataclass(frozen=True, eq=False)
class Statement(Upsert):
    """A statement run once per batch, in its place among the upserts (its rows are empty)."""

    text: str = field(default="", kw_only=True)

    def statement(self) -> sql.Composed:
        return sql.Composed([sql.SQL(self.text)])

    def stage_statements(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        noop = sql.Composed([sql.SQL("SELECT 1")])  # never more than one row: never staged
        return noop, noop, noop


class Projection(Protocol):
    """A read model fed by one topic. `rows` must be pure: same record, same rows.

    A projection of batch records (many events in one Kafka record) may also define
    `units(record)`: the record's items, each with its own rows, so that a value PostgreSQL refuses
    costs the runner one item, not the whole batch record (see `units_of`).

    It may also define `decode(raw) -> record`, raising `DecodeError` with the reason, to read its
    topic's records its own way (the metrics projection: without re-validation). Otherwise the
    runner reads them with `decoder_of`: a projection whose topic carries records our own stages write
    may set `trusted = True`, and its batch records are then built without validating them again;
    the others' are validated into `record_type`.

    It may also define `async maintain(conn, final=False)` and `maintain_every` (seconds): work
    derived from what is committed (the metric rollups), which the runner calls periodically on a
    connection of its own, and with `final=True` when a rebuild has caught up; a failure there is
    logged and retried next time.

    And `committed(rows)` and `forget()`: called when a batch committed with no record refused
    (with every (upsert, row) written) and when the runner opens a new database session. With them
    `rows` may leave out insert-once rows (`DO NOTHING`) whose keys this session committed, which
    would change nothing (the metrics projection's series); it sends them again after `forget()`, so
    a fresh instance (a rebuild) still writes every row.
    """

    name: str
    topic: str
    record_type: type[Record] | tuple[type[Record], ...]
    upserts: tuple[Upsert, ...]

    def rows(self, record: Record) -> Iterable[tuple[Upsert, Row]]: ...


Unit = tuple[Record | None, list[tuple[Upsert, Row]]]


def decoder_of(projection: Projection) -> Callable[..., Record]:
    """How the runner reads `projection`'s records: `decode_trusted` for a projection that declares
    `trusted = True`, `decode` (validating every record) for the others."""
    return decode_trusted if getattr(projection, "trusted", False) else decode


def units_of(projection: Projection, record: Record) -> list[Unit]:
    """(item, its rows) for each item of `record`; item None = the record as a whole."""
    units = getattr(projection, "units", None)
    if units is None:
        return [(None, list(projection.rows(record)))]
    return [(item, list(rows)) for item, rows in units(record)]
