"""Polling core: rates, 32-bit wrap, reboot re-baseline, link and reachability events, bad values."""

from ems.collectors import snmp_mib as mib
from ems.collectors import snmp_poll as core
from ems.collectors.snmp_discovery import WALK_ROOTS, build_info
from ems.collectors.snmp_thresholds import ThresholdRule, Thresholds
from ems.infra.snmpsim import recordings_dir

IF, IFX = mib.IF_ENTRY, mib.IFX_ENTRY


def info(hc: bool = True, oper2: int = 1):
    walked = {root: {} for root in WALK_ROOTS}
    for i, name in ((1, b"ge1"), (2, b"ge2")):
        walked[IF].update(
            {f"2.{i}": name, f"5.{i}": 100_000_000, f"7.{i}": 1, f"8.{i}": 1 if i == 1 else oper2}
        )
        if hc:
            walked[IFX].update({f"1.{i}": name, f"6.{i}": 0, f"15.{i}": 100})
    system = {mib.SYS_NAME: b"R1", mib.SYS_OBJECT_ID: "1.3.6.1.4.1.9.1.1", mib.SYS_DESCR: b"router"}
    return build_info("10.0.0.1", system, walked)


def poll(dev, at, uptime, in_octets, oper2=1, errors=0):
    columns, _ = core.poll_plan(dev)
    walked = {oid: {} for oid in columns.values()}
    for i in ("1", "2"):
        walked[columns["in_octets"]][i] = in_octets
        walked[columns["out_octets"]][i] = 0
        walked[columns["in_errors"]][i] = errors
        walked[columns["admin"]][i] = 1
        walked[columns["oper"]][i] = 1 if i == "1" else oper2
    problems = []
    data = core.parse_poll(dev, walked, {mib.SYSTEM + ".3": uptime}, at, 2.5, 0.0, problems)
    assert problems == []
    return data


def metric(samples, name, interface="ge1"):
    return next(s.value for s in samples if s.name == name and s.labels.get("interface") == interface)


def test_rates_and_utilization_from_two_polls():
    dev, state = info(), core.DeviceState()
    samples, events = core.step(state, dev, poll(dev, 0, 1000, 1_000_000))
    assert {s.name for s in samples} == {"snmp_latency_ms", "packet_loss_pct", "sys_uptime_s"}
    samples, events = core.step(state, dev, poll(dev, 10, 2000, 1_000_000 + 12_500_000, errors=50))
    assert metric(samples, "if_in_bps") == 10_000_000  # 12.5 MB in 10 s
    assert metric(samples, "if_in_util_pct") == 10.0
    assert metric(samples, "if_in_errors_ps") == 5.0
    assert events == []


def test_32bit_counter_wrap_counts_once_around():
    dev, state = info(hc=False), core.DeviceState()
    assert not dev.hc
    core.step(state, dev, poll(dev, 0, 1000, 2**32 - 1000))
    samples, _ = core.step(state, dev, poll(dev, 1, 1100, 3000))
    assert metric(samples, "if_in_bps") == 4000 * 8


def test_64bit_decrease_is_a_discontinuity_not_a_rate():
    dev, state = info(), core.DeviceState()
    core.step(state, dev, poll(dev, 0, 1000, 5000))
    samples, _ = core.step(state, dev, poll(dev, 1, 1100, 4000))
    assert not [s for s in samples if s.name == "if_in_bps"]


def test_reboot_is_an_event_and_rebaselines():
    dev, state = info(), core.DeviceState()
    core.step(state, dev, poll(dev, 0, 500_000, 9_000_000))
    samples, events = core.step(state, dev, poll(dev, 60, 300, 100))
    assert [e.event for e in events] == ["Device Rebooted"]
    assert not [s for s in samples if s.name == "if_in_bps"]
    samples, events = core.step(state, dev, poll(dev, 70, 1300, 100 + 1250))
    assert events == [] and metric(samples, "if_in_bps") == 1000


def test_link_down_on_admin_up_then_clear_on_same_resource():
    dev, state = info(), core.DeviceState()
    _, events = core.step(state, dev, poll(dev, 0, 100, 0, oper2=2))
    assert [(e.event, e.severity, e.resource) for e in events] == [("LinkDown", "major", "ge2")]
    _, events = core.step(state, dev, poll(dev, 1, 200, 0, oper2=2))
    assert events == []  # reported once
    _, events = core.step(state, dev, poll(dev, 2, 300, 0, oper2=1))
    assert [(e.event, e.severity, e.resource) for e in events] == [("LinkDown", "ok", "ge2")]


def test_unreachable_once_then_cleared_on_the_same_asset():
    state = core.DeviceState()
    first = core.unreachable(state, "ast_x", "no answer")
    assert [(e.event, e.severity) for e in first] == [("Device Unreachable", "critical")]
    assert core.unreachable(state, "ast_x", "no answer") == []
    cleared = core.reachable(state)
    assert [(a, e.event, e.severity) for a, e in cleared] == [("ast_x", "Device Unreachable", "ok")]
    assert core.reachable(state) == []


def test_auth_failure_is_not_down():
    state = core.DeviceState()
    events = core.auth_failure(state, "ast_x", "Wrong SNMP PDU digest")
    assert [(e.event, e.severity) for e in events] == [("SNMP Auth Failure", "major")]
    assert state.unreachable_asset is None
    assert [e.event for _, e in core.reachable(state)] == ["SNMP Auth Failure"]


def test_threshold_breach_becomes_an_event_on_the_interface():
    dev, state = info(), core.DeviceState()
    rules = Thresholds([ThresholdRule(metric="if_in_util_pct", warning=50, critical=90)])
    core.step(state, dev, poll(dev, 0, 100, 0), rules)
    _, events = core.step(state, dev, poll(dev, 1, 200, 8_750_000), rules)
    assert [(e.event, e.severity, e.resource) for e in events][:1] == [
        ("Threshold if_in_util_pct", "warning", "ge1")
    ]


def test_garbage_values_become_problems_not_crashes():
    dev = info()
    columns, _ = core.poll_plan(dev)
    walked = {columns["in_octets"]: {"1": b"abc"}, columns["oper"]: {"1": 99}, columns["admin"]: {"1": "x"}}
    problems = []
    data = core.parse_poll(dev, walked, {mib.SYSTEM + ".3": b"garbage"}, 0, 1, 0, problems)
    assert data.uptime is None and data.counters == {}
    assert {p.oid for p in problems} == {
        f"{columns['in_octets']}.1",
        f"{columns['oper']}.1",
        f"{columns['admin']}.1",
        mib.SYS_UPTIME,
    }
    assert any(p.original == "OctetString:abc" for p in problems)
    core.step(core.DeviceState(), dev, data)


def test_rates_use_the_agents_clock_when_it_advanced_plausibly() -> None:
    def data(at: float, uptime: int | None) -> core.PollData:
        return core.PollData(at, uptime, {}, None, {}, 1.0, 0.0)

    # polled 1.3 s apart by the collector (a scheduling delay), 1.00 s apart on the agent's clock
    assert core._interval(data(100.0, 5000), data(101.3, 5100)) == 1.0
    assert core._interval(data(100.0, 5000), data(101.5, 5000)) == 1.5  # frozen sysUpTime (a recording)
    assert core._interval(data(100.0, None), data(101.5, None)) == 1.5
    assert core._interval(data(100.0, 5000), data(160.0, 7000)) == 60.0  # implausible: 20 s vs 60 s


def recorded_walk(name: str, root: str) -> dict[str, object]:
    """The subtree `root` of a snmpsim recording of a real device, as the client returns it."""
    walked: dict[str, object] = {}
    for line in (recordings_dir() / f"{name}.snmprec").read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        if oid.startswith(root + "."):
            walked[oid[len(root) + 1 :]] = {"2": int, "4": str.encode, "6": str}[tag](value)
    return walked


def test_storage_thresholds_skip_memory_entries_of_a_real_net_snmp_linux_agent():
    walked = {root: {} for root in WALK_ROOTS} | {
        mib.HR_STORAGE: recorded_walk("linux-full-walk", mib.HR_STORAGE)
    }
    dev = build_info("10.0.0.9", {mib.SYS_NAME: b"tt"}, walked)
    assert dev.host_resources
    problems = []
    data = core.parse_poll(dev, {mib.HR_STORAGE: walked[mib.HR_STORAGE]}, {}, 0, 1, 0, problems)
    assert problems == []
    samples, events = core.step(core.DeviceState(), dev, data, Thresholds())
    used = {s.labels["storage"]: s.value for s in samples if s.name == "storage_used_pct"}
    # Memory entries are still measured: "Cached memory" is full by design, "Physical memory" nearly so.
    assert used["Cached memory"] == 100 and used["Physical memory"] > 93 and used["/export"] > 94
    assert set(used) == {
        "Physical memory",
        "Virtual memory",
        "Memory buffers",
        "Cached memory",
        "Swap space",
        "/",
        "/usr/local",
        "/export",
    }
    # Only the file systems are held to the storage thresholds (85 % warning, 95 % critical).
    assert [(e.event, e.severity, e.resource) for e in events] == [
        ("Threshold storage_used_pct", "warning", "/export")
    ]
