"""Discovery: system group, IF-MIB interfaces, IP addresses, LLDP neighbours, HOST-RESOURCES presence
-> a `DeviceInfo` and the discovery observation the asset registry consumes.

`build_info` is pure (walked values in, facts out); `discover` is the thin async part that walks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ems.collectors import snmp_mib as mib
from ems.collectors.snmp_client import Session, SnmpClient
from ems.collectors.snmp_mib import Problem, as_int, as_mac, as_text, rows
from ems.collectors.snmp_vendors import guess
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import DiscoveryBody, Observation

WALK_ROOTS = [
    mib.IF_ENTRY,
    mib.IFX_ENTRY,
    mib.IP_AD_IFINDEX,
    mib.LLDP_REM,
    mib.LLDP_LOC_PORT,
    mib.HR_PROC_LOAD,
    mib.HR_STORAGE,
]


@dataclass
class DeviceInfo:
    """What discovery learnt about one device; polling uses `interfaces`, `hc` and `host_resources`."""

    host: str
    natural_key: str
    name: str
    facts: dict[str, Any]
    edges: list[dict[str, str]]
    interfaces: dict[str, dict[str, Any]]  # ifIndex -> interface facts
    hc: bool
    host_resources: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def asset_id(self) -> str:
        return asset_id_for(self.natural_key)

    @property
    def rows(self) -> int:
        """Rows of the longest table a poll walks (GETBULK max-repetitions that fetches it in one PDU)."""
        attrs = self.facts["attributes"]
        return max(len(self.interfaces), attrs["cpus"], len(attrs["storage"]), 1)


def natural_key(sys_name: str, host: str) -> str:
    """`device:<sysName lower>`, or `device:<host>` for a device without a name."""
    return f"device:{(sys_name or host).strip().lower()}"


def _interfaces(walked: dict[str, dict[str, Any]], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    ift, ifx = rows(walked[mib.IF_ENTRY]), rows(walked[mib.IFX_ENTRY])
    out: dict[str, dict[str, Any]] = {}
    for index in sorted(set(ift) | set(ifx), key=lambda i: int(i) if i.isdigit() else 0):
        a, x = ift.get(index, {}), ifx.get(index, {})
        where = f"{mib.IF_ENTRY}.*.{index}"
        high = as_int(x.get(15), f"{mib.IFX_ENTRY}.15.{index}", problems)
        speed = as_int(a.get(5), f"{mib.IF_ENTRY}.5.{index}", problems)
        admin = as_int(a.get(7), f"{mib.IF_ENTRY}.7.{index}", problems, 1, 3)
        oper = as_int(a.get(8), f"{mib.IF_ENTRY}.8.{index}", problems, 1, 7)
        out[index] = {
            "index": int(index) if index.isdigit() else index,
            "name": as_text(x.get(1), where, problems) or as_text(a.get(2), where, problems) or index,
            "alias": as_text(x.get(18), where, problems),
            "type": as_int(a.get(3), where, problems),
            "speed_bps": high * 1_000_000 if high else speed or 0,
            "admin": mib.IF_STATUS.get(admin or 0, "unknown"),
            "oper": mib.IF_STATUS.get(oper or 0, "unknown"),
            "mac": as_mac(a.get(6)),
        }
    return out


def _neighbours(walked, interfaces, problems: list[Problem]) -> list[dict[str, str]]:
    local = rows(walked[mib.LLDP_LOC_PORT])
    by_index = {str(i["index"]): i["name"] for i in interfaces.values()}
    edges = []
    for index, cols in sorted(rows(walked[mib.LLDP_REM]).items()):
        parts = index.split(".")
        if len(parts) != 3:
            problems.append(Problem(f"{mib.LLDP_REM}.*.{index}", "bad lldpRemTable index", index))
            continue
        port = parts[1]
        remote = as_text(cols.get(9), f"{mib.LLDP_REM}.9.{index}", problems)
        chassis = cols.get(5)
        target_key = natural_key(remote, as_mac(chassis) or as_text(chassis, "", []))
        loc = local.get(port, {})
        edges.append(
            {
                "type": "connected_to",
                "target": asset_id_for(target_key),
                "target_name": remote,
                "target_key": target_key,
                "local_port": as_text(loc.get(3), "", []) or by_index.get(port, port),
                "remote_port": as_text(cols.get(7), f"{mib.LLDP_REM}.7.{index}", problems),
            }
        )
    return edges


def build_info(host: str, system: dict[str, Any], walked: dict[str, dict[str, Any]]) -> DeviceInfo:
    """Facts, interfaces and topology edges from the system GET and the table walks. Pure."""
    problems: list[Problem] = []
    text = {oid: as_text(system.get(oid), oid, problems) for oid in mib.SYSTEM_OIDS if oid != mib.SYS_UPTIME}
    uptime = as_int(system.get(mib.SYS_UPTIME), mib.SYS_UPTIME, problems)
    name = text[mib.SYS_NAME]
    kind = guess(text[mib.SYS_OBJECT_ID], text[mib.SYS_DESCR])
    interfaces = _interfaces(walked, problems)
    addresses = [host] + [ip for ip in walked[mib.IP_AD_IFINDEX] if ip != host and not ip.startswith("127.")]
    storage = rows(walked[mib.HR_STORAGE])
    key = natural_key(name, host)
    facts = {
        "natural_key": key,
        "name": name or host,
        "type": kind.type,
        "vendor": kind.vendor,
        "model": kind.model,
        "addresses": addresses,
        "location": text[mib.SYS_LOCATION],
        "contact": text[mib.SYS_CONTACT],
        "attributes": {
            "sysDescr": text[mib.SYS_DESCR],
            "sysObjectID": text[mib.SYS_OBJECT_ID],
            "sysUpTime": uptime,
            "interfaces": list(interfaces.values()),
            "cpus": len(walked[mib.HR_PROC_LOAD]),
            "storage": [as_text(c.get(3), f"{mib.HR_STORAGE}.3.{i}", problems) for i, c in storage.items()],
            "management": host,
        },
    }
    return DeviceInfo(
        host=host,
        natural_key=key,
        name=name or host,
        facts=facts,
        edges=_neighbours(walked, interfaces, problems),
        interfaces=interfaces,
        hc=bool(rows(walked[mib.IFX_ENTRY])) and any(k.startswith("6.") for k in walked[mib.IFX_ENTRY]),
        host_resources=bool(walked[mib.HR_PROC_LOAD] or walked[mib.HR_STORAGE]),
        problems=problems,
    )


def observation(info: DeviceInfo) -> Observation:
    """The discovery observation (source `nms`) for the asset registry."""
    edges = [{k: v for k, v in e.items() if k != "target_key"} for e in info.edges]
    return Observation(
        source="nms", asset_id=info.asset_id, body=DiscoveryBody(facts=info.facts, edges=edges)
    )


async def discover(client: SnmpClient, session: Session) -> DeviceInfo:
    """GET the system group, walk the tables in parallel, build the DeviceInfo."""
    system = await client.get(session, list(mib.SYSTEM_OIDS))
    walked, _ = await client.walk(session, WALK_ROOTS)
    return build_info(session.device.host, system, walked)
