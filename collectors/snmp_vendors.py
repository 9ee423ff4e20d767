"""Vendor / model / device-type guesses from sysObjectID and sysDescr: a small data-driven table.

Rows are matched longest enterprise-OID prefix first; `words` in sysDescr refine the device type.
Add rows here rather than writing code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENTERPRISES = "1.3.6.1.4.1."

# (sysObjectID prefix, vendor, default type)
VENDOR_TABLE: list[tuple[str, str, str]] = [
    ("1.3.6.1.4.1.9.1.", "Cisco", "router"),
    ("1.3.6.1.4.1.9.6.", "Cisco", "switch"),
    ("1.3.6.1.4.1.9.12.", "Cisco", "switch"),
    ("1.3.6.1.4.1.9.", "Cisco", "router"),
    ("1.3.6.1.4.1.2636.1.1.1.2.", "Juniper", "router"),
    ("1.3.6.1.4.1.2636.", "Juniper", "router"),
    ("1.3.6.1.4.1.11.2.3.7.11.", "HPE", "switch"),
    ("1.3.6.1.4.1.11.", "HP", "server"),
    ("1.3.6.1.4.1.47196.", "Aruba", "switch"),
    ("1.3.6.1.4.1.30065.", "Arista", "switch"),
    ("1.3.6.1.4.1.2011.", "Huawei", "router"),
    ("1.3.6.1.4.1.12356.", "Fortinet", "firewall"),
    ("1.3.6.1.4.1.25461.", "Palo Alto Networks", "firewall"),
    ("1.3.6.1.4.1.2620.", "Check Point", "firewall"),
    ("1.3.6.1.4.1.3076.", "Cisco", "firewall"),
    ("1.3.6.1.4.1.14988.", "MikroTik", "router"),
    ("1.3.6.1.4.1.6027.", "Dell", "switch"),
    ("1.3.6.1.4.1.674.", "Dell", "server"),
    ("1.3.6.1.4.1.1916.", "Extreme Networks", "switch"),
    ("1.3.6.1.4.1.4526.", "Netgear", "switch"),
    ("1.3.6.1.4.1.41112.", "Ubiquiti", "access_point"),
    ("1.3.6.1.4.1.6876.", "VMware", "hypervisor"),
    ("1.3.6.1.4.1.311.", "Microsoft", "server"),
    ("1.3.6.1.4.1.8072.", "Net-SNMP", "server"),
    ("1.3.6.1.4.1.2021.", "Net-SNMP", "server"),
    ("1.3.6.1.4.1.20408.", "snmpsim", "simulator"),
    ("1.3.6.1.4.1.789.", "NetApp", "storage"),
    ("1.3.6.1.4.1.318.", "APC", "ups"),
    ("1.3.6.1.4.1.2.", "IBM", "server"),
    ("1.3.6.1.4.1.42.", "Oracle", "server"),
]

# sysDescr words that name the device type better than the vendor default (first match wins).
TYPE_WORDS: list[tuple[str, str]] = [
    (r"\b(firewall|asa|fortigate|pan-os|srx)\b", "firewall"),
    (r"\b(switch|catalyst|nexus|nx-os|procurve|eos)\b", "switch"),
    (r"\b(router|ios xr|junos|routeros)\b", "router"),
    (r"\b(linux|windows|freebsd|solaris|sunos|darwin)\b", "server"),
    (r"\b(printer|laserjet)\b", "printer"),
]

_MODEL = re.compile(r"\b([A-Z]{1,4}[- ]?\d{2,5}[A-Z0-9-]*)\b")


@dataclass(frozen=True)
class Guess:
    """What a device probably is."""

    vendor: str
    type: str
    model: str


def guess(sys_object_id: str, sys_descr: str, table: list[tuple[str, str, str]] | None = None) -> Guess:
    """Vendor, type and model from sysObjectID (longest prefix) and sysDescr words."""
    rows = sorted(table or VENDOR_TABLE, key=lambda row: len(row[0]), reverse=True)
    oid = sys_object_id.strip(".") + "."
    vendor, kind = "unknown", "unknown"
    for prefix, name, default_type in rows:
        if oid.startswith(prefix):
            vendor, kind = name, default_type
            break
    else:
        if oid.startswith(ENTERPRISES):
            vendor = "enterprise " + oid[len(ENTERPRISES) :].split(".")[0]
    descr = sys_descr.lower()
    for pattern, word_type in TYPE_WORDS:
        if re.search(pattern, descr):
            if kind in ("unknown", "server", "simulator") or word_type in ("firewall", "switch"):
                kind = word_type
            break
    match = _MODEL.search(sys_descr)
    model = match.group(1) if match else (sys_object_id.rsplit(".", 1)[-1] if vendor != "unknown" else "")
    return Guess(vendor=vendor, type=kind, model=model)
