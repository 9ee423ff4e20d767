"""Polling core: one poll's raw values -> metric samples and events. Pure (the caller passes the time).

Counters become rates between two polls: 64-bit (HC) counters never wrap in practice, so a decrease is
a discontinuity and is skipped; 32-bit counters that decrease wrapped once (+2^32). A sysUpTime lower
than the previous one is a reboot: an event, and every counter is re-baselined (no rate that round).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ems.collectors import snmp_mib as mib
from ems.collectors.snmp_discovery import DeviceInfo
from ems.collectors.snmp_mib import Problem, as_int, as_text, rows
from ems.collectors.snmp_thresholds import Thresholds
from ems.schemas.observation import EventBody, MetricSample

WRAP32 = 2**32
RATES = {
    "in_errors": "if_in_errors_ps",
    "out_errors": "if_out_errors_ps",
    "in_discards": "if_in_discards_ps",
    "out_discards": "if_out_discards_ps",
}


def poll_plan(info: DeviceInfo) -> tuple[dict[str, str], list[str]]:
    """The counter columns of this device (HC when it has them) and every subtree one poll walks."""
    columns = {**(mib.COUNTERS_HC if info.hc else mib.COUNTERS_32), **mib.COUNTERS_COMMON, **mib.STATUS}
    roots = list(columns.values())
    if info.host_resources:
        roots += [mib.HR_PROC_LOAD, mib.HR_STORAGE]
    return columns, roots


@dataclass(frozen=True)
class PollData:
    """Validated values of one poll."""

    at: float
    uptime: int | None
    counters: dict[str, dict[str, int]]  # ifIndex -> counter name -> value
    cpu: list[int]
    storage: dict[str, tuple[str, float]]  # index -> (description, used %)
    latency_ms: float
    loss_pct: float
    memory: frozenset[str] = frozenset()  # storage indexes whose hrStorageType is memory (no thresholds)


def parse_poll(info, walked, scalars, at: float, latency_ms: float, loss_pct: float, problems: list[Problem]):
    """PollData from a walk (see `poll_plan`); unusable values land in `problems`."""
    columns, _ = poll_plan(info)
    counters: dict[str, dict[str, int]] = {}
    for name, oid in columns.items():
        high = 7 if name in mib.STATUS else None
        for index, value in walked.get(oid, {}).items():
            number = as_int(value, f"{oid}.{index}", problems, 0 if high is None else 1, high)
            if number is not None:
                counters.setdefault(index, {})[name] = number
    loads = walked.get(mib.HR_PROC_LOAD, {})
    cpu = [
        v
        for i, raw in loads.items()
        if (v := as_int(raw, f"{mib.HR_PROC_LOAD}.{i}", problems, 0, 100)) is not None
    ]
    storage, memory = {}, set()
    for index, cols in rows(walked.get(mib.HR_STORAGE, {})).items():
        size = as_int(cols.get(5), f"{mib.HR_STORAGE}.5.{index}", problems)
        used = as_int(cols.get(6), f"{mib.HR_STORAGE}.6.{index}", problems)
        if size and used is not None:
            descr = as_text(cols.get(3), f"{mib.HR_STORAGE}.3.{index}", problems) or index
            storage[index] = (descr, min(100.0, 100.0 * used / size))
            if str(cols.get(2)) in mib.MEMORY_STORAGE_TYPES:
                memory.add(index)
    uptime = as_int(scalars.get(mib.SYSTEM + ".3"), mib.SYS_UPTIME, problems)
    return PollData(at, uptime, counters, cpu, storage, latency_ms, loss_pct, frozenset(memory))


@dataclass
class DeviceState:
    """What a device's next poll is compared with: last poll, links reported down, reachability."""

    last: PollData | None = None
    links_down: set[str] = field(default_factory=set)
    unreachable_asset: str | None = None  # the asset the open Device Unreachable alert names
    auth_failed_asset: str | None = None


def _event(
    event: str,
    severity: str,
    title: str,
    resource: str | None = None,
    text: str = "",
    value: str | None = None,
    **attrs: Any,
) -> EventBody:
    attributes = {k: v for k, v in attrs.items() if v is not None}
    return EventBody(
        event=event,
        severity=severity,
        title=title,
        resource=resource,
        text=text,
        value=value,
        attributes=attributes,
    )


def unreachable(state: DeviceState, asset: str, reason: str) -> list[EventBody]:
    """No answer after every retry: Device Unreachable, once per outage."""
    if state.unreachable_asset is not None:
        return []
    state.unreachable_asset = asset
    return [_event("Device Unreachable", "critical", "Device Unreachable", text=reason)]


def auth_failure(state: DeviceState, asset: str, reason: str) -> list[EventBody]:
    """The agent answers but rejects our credentials: not down, a configuration problem (once)."""
    if state.auth_failed_asset is not None:
        return []
    state.auth_failed_asset = asset
    return [_event("SNMP Auth Failure", "major", "SNMP authentication failure", text=reason)]


def reachable(state: DeviceState) -> list[tuple[str, EventBody]]:
    """An answer: clear what is open, on the asset it was raised for."""
    out = []
    if state.unreachable_asset:
        out.append((state.unreachable_asset, _event("Device Unreachable", "ok", "Device reachable again")))
        state.unreachable_asset = None
    if state.auth_failed_asset:
        out.append((state.auth_failed_asset, _event("SNMP Auth Failure", "ok", "SNMP credentials accepted")))
        state.auth_failed_asset = None
    return out


def _interval(prev: PollData, data: PollData) -> float:
    """Seconds between two polls for rates: by the agent's sysUpTime when it plausibly advanced (the
    counters were read on that clock, so the collector's scheduling delays do not skew the rate),
    else by the collector's clock (agents with a frozen or missing sysUpTime)."""
    wall = data.at - prev.at
    if prev.uptime is not None and data.uptime is not None:
        agent = (data.uptime - prev.uptime) / 100
        if agent > 0 and abs(agent - wall) <= 0.5 * wall:
            return agent
    return wall


def _rate(prev: int, cur: int, seconds: float, wide: bool) -> float | None:
    if cur >= prev:
        return (cur - prev) / seconds
    return None if wide else (cur + WRAP32 - prev) / seconds


def step(
    state: DeviceState,
    info: DeviceInfo,
    data: PollData,
    thresholds: Thresholds | None = None,
    tags: tuple[str, ...] = (),
    device_class: str = "default",
) -> tuple[list[MetricSample], list[EventBody]]:
    """Samples and events of one poll, given the previous one in `state` (updated in place)."""
    samples = [
        MetricSample(name="snmp_latency_ms", value=round(data.latency_ms, 3)),
        MetricSample(name="packet_loss_pct", value=data.loss_pct),
    ]
    events: list[EventBody] = []
    prev, state.last = state.last, data
    rebooted = (
        prev is not None
        and prev.uptime is not None
        and data.uptime is not None
        and (data.uptime < prev.uptime and prev.uptime < WRAP32 - 200 * max(1.0, data.at - prev.at))
    )
    if rebooted:
        events.append(
            _event(
                "Device Rebooted",
                "warning",
                "Device rebooted (sysUpTime reset)",
                value=str(data.uptime),
                previous_uptime=prev.uptime,
            )
        )
    if data.uptime is not None:
        samples.append(MetricSample(name="sys_uptime_s", value=data.uptime / 100))
    seconds = _interval(prev, data) if prev and not rebooted else 0.0
    for index, now in data.counters.items():
        iface = info.interfaces.get(index, {"name": index, "speed_bps": 0})
        labels = {"interface": str(iface["name"])}
        events += _link(state, str(iface["name"]), now.get("admin"), now.get("oper"))
        before = prev.counters.get(index) if prev and not rebooted and seconds > 0 else None
        if before is None:
            continue
        for name, value in now.items():
            if name in mib.STATUS or name not in before:
                continue
            rate = _rate(before[name], value, seconds, info.hc or "octets" not in name)
            if rate is None:
                continue
            if "octets" in name:
                direction = name.split("_")[0]
                bps = rate * 8
                if iface["speed_bps"] and bps > 2 * iface["speed_bps"]:
                    continue  # a counter discontinuity, not traffic
                samples.append(MetricSample(name=f"if_{direction}_bps", value=round(bps, 3), labels=labels))
                if iface["speed_bps"]:
                    util = round(min(100.0, 100.0 * bps / iface["speed_bps"]), 3)
                    samples.append(MetricSample(name=f"if_{direction}_util_pct", value=util, labels=labels))
            else:
                samples.append(MetricSample(name=RATES[name], value=round(rate, 6), labels=labels))
    if data.cpu:
        samples.append(MetricSample(name="cpu_util_pct", value=sum(data.cpu) / len(data.cpu)))
    memory: list[MetricSample] = []  # measured, never held to storage thresholds (full caches are normal)
    for index, (descr, pct) in data.storage.items():
        sample = MetricSample(name="storage_used_pct", value=round(pct, 3), labels={"storage": descr})
        (memory if index in data.memory else samples).append(sample)
    if thresholds is not None:
        asset = info.asset_id  # a digest: once per poll, not once per sample
        for s in samples:
            breach = thresholds.observe(asset, s.name, s.labels, s.value, data.at, tags, device_class)
            if breach is not None:
                resource = next(iter(s.labels.values()), None)
                text = f"{s.name}={s.value:g} (threshold {breach.threshold})" if breach.threshold else ""
                events.append(
                    _event(
                        f"Threshold {s.name}",
                        breach.severity,
                        f"{s.name} {breach.severity}",
                        resource,
                        text=text or f"{s.name}={s.value:g} back to normal",
                        metric=s.name,
                    )
                )
    return samples + memory, events


def _link(state: DeviceState, name: str, admin: int | None, oper: int | None) -> list[EventBody]:
    down = admin == 1 and oper in (2, 7)
    if down and name not in state.links_down:
        state.links_down.add(name)
        return [_event("LinkDown", "major", f"Link down: {name}", name, oper=mib.IF_STATUS.get(oper or 0))]
    if not down and name in state.links_down and oper is not None:
        state.links_down.discard(name)
        return [_event("LinkDown", "ok", f"LinkUp: {name}", name, oper=mib.IF_STATUS.get(oper, "unknown"))]
    return []
