"""Binary COPY for the projections: integer dumpers that refuse what they cannot hold.

An `Upsert` with `copy_types` is copied in PostgreSQL's binary format, which costs about a third of
the text format's Python time for an alert or event row and spares PostgreSQL parsing the text
(docs/performance.md). One difference matters: in text a number too large for an `integer` column
is refused by PostgreSQL (a dead letter with the reason, as for any refused value), while psycopg's
binary dumpers write the low 32 or 64 bits, a different number. `register_checked_ints` puts
dumpers on a connection that raise `OverflowError` instead, which the runner treats as a refused
value, as PostgreSQL's own error would be.
"""

from __future__ import annotations

from psycopg import AsyncConnection, Connection
from psycopg.types.numeric import Int2BinaryDumper, Int4BinaryDumper, Int8BinaryDumper


def _checked(base: type, bits: int, name: str) -> type:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def dump(self: object, obj: int) -> bytes:
        if not low <= obj <= high:
            raise OverflowError(f"{obj} is out of range for type {name}")
        return base.dump(self, obj)

    return type(f"Checked{base.__name__}", (base,), {"dump": dump, "__doc__": f"{name}, range-checked"})


CHECKED = (
    _checked(Int2BinaryDumper, 16, "smallint"),
    _checked(Int4BinaryDumper, 32, "integer"),
    _checked(Int8BinaryDumper, 64, "bigint"),
)


def register_checked_ints(conn: Connection | AsyncConnection) -> None:
    """Use the range-checked dumpers for integers copied by type (`Copy.set_types`) on `conn`."""
    for dumper in CHECKED:
        conn.adapters.register_dumper(None, dumper)  # None: looked up by type oid, as COPY does
