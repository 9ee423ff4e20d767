"""Numeric OIDs the collector reads (no MIB compiler needed) and checked value conversions.

Every converter appends a `Problem` instead of raising when an agent sends the wrong type or an
impossible value, so one broken varbind never stops a discovery or a poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYSTEM = "1.3.6.1.2.1.1"
SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME = f"{SYSTEM}.1.0", f"{SYSTEM}.2.0", f"{SYSTEM}.3.0"
SYS_CONTACT, SYS_NAME, SYS_LOCATION = f"{SYSTEM}.4.0", f"{SYSTEM}.5.0", f"{SYSTEM}.6.0"
SYSTEM_OIDS = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION)

IF_ENTRY = "1.3.6.1.2.1.2.2.1"  # ifTable columns: 2 descr 3 type 5 speed 6 mac 7 admin 8 oper
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"  # ifXTable columns: 1 name 6/10 HC octets 15 high speed 18 alias
IP_AD_IFINDEX = "1.3.6.1.2.1.4.20.1.2"  # ipAdEntIfIndex, indexed by the address
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"  # lldpRemTable: .<col>.<timeMark>.<localPort>.<index>
LLDP_LOC_PORT = "1.0.8802.1.1.2.1.3.7.1"  # lldpLocPortTable: 3 portId 4 portDesc
HR_PROC_LOAD = "1.3.6.1.2.1.25.3.3.1.2"
HR_STORAGE = "1.3.6.1.2.1.25.2.3.1"  # 2 type 3 descr 4 allocation units 5 size 6 used
# hrStorageType values (HOST-RESOURCES-MIB hrStorageTypes) that are memory, not a disk or file system:
# hrStorageOther (Net-SNMP's "Memory buffers", "Cached memory"), hrStorageRam, hrStorageVirtualMemory.
HR_STORAGE_TYPES = "1.3.6.1.2.1.25.2.1"
MEMORY_STORAGE_TYPES = frozenset(f"{HR_STORAGE_TYPES}.{n}" for n in (1, 2, 3))

# Poll columns: counter name -> OID of the column (HC = 64-bit ifXTable, else 32-bit ifTable).
COUNTERS_HC = {"in_octets": f"{IFX_ENTRY}.6", "out_octets": f"{IFX_ENTRY}.10"}
COUNTERS_32 = {"in_octets": f"{IF_ENTRY}.10", "out_octets": f"{IF_ENTRY}.16"}
COUNTERS_COMMON = {
    "in_errors": f"{IF_ENTRY}.14",
    "in_discards": f"{IF_ENTRY}.13",
    "out_errors": f"{IF_ENTRY}.20",
    "out_discards": f"{IF_ENTRY}.19",
}
STATUS = {"admin": f"{IF_ENTRY}.7", "oper": f"{IF_ENTRY}.8"}
IF_STATUS = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}


@dataclass(frozen=True)
class Problem:
    """A value an agent sent that we could not use: where, why, and what it was."""

    oid: str
    reason: str
    original: str


def describe(value: Any) -> str:
    """The received value as text for a dead letter (bytes in hex when not printable)."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return f"OctetString:{text}" if text.isprintable() else f"OctetString:0x{value.hex()}"
    return f"{type(value).__name__}:{value!r}"


def as_int(
    value: Any, oid: str, problems: list[Problem], low: int = 0, high: int | None = None
) -> int | None:
    """An integer within [low, high], or None + a problem (None alone when the object is missing)."""
    if value is None:
        return None
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    ):
        return value
    problems.append(
        Problem(oid, f"expected an integer in [{low}, {high if high is not None else '∞'}]", describe(value))
    )
    return None


def as_text(value: Any, oid: str, problems: list[Problem]) -> str:
    """Printable text ('' when missing); non-text values are kept as their string with a problem."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").replace("\x00", "").strip()
    if isinstance(value, str):
        return value
    problems.append(Problem(oid, "expected a string", describe(value)))
    return str(value)


def as_mac(value: Any) -> str:
    """A 6-byte physical address as aa:bb:cc:dd:ee:ff ('' otherwise)."""
    if isinstance(value, bytes) and len(value) == 6:
        return ":".join(f"{b:02x}" for b in value)
    return ""


def rows(walked: dict[str, Any]) -> dict[str, dict[int, Any]]:
    """A walked table entry ({"col.index...": value}) as {index: {col: value}}."""
    table: dict[str, dict[int, Any]] = {}
    for suffix, value in walked.items():
        col, _, index = suffix.partition(".")
        if col.isdigit() and index:
            table.setdefault(index, {})[int(col)] = value
    return table
