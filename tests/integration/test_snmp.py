"""The SNMP collector against real SNMP agents (snmpsim on loopback UDP) serving our recordings and a
recording of a real Linux box shipped with snmpsim: discovery, v2c/v3, polling, faults."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ems.collectors.snmp_client import SnmpAuthError, SnmpClient
from ems.collectors.snmp_collector import Poller
from ems.collectors.snmp_config import Credential, Device
from ems.collectors.snmp_discovery import discover
from ems.collectors.snmp_thresholds import Thresholds
from ems.infra.snmpsim import SnmpSimAgent, recordings_dir
from ems.schemas.identity import asset_id_for

DATA = Path(__file__).parent.parent / "data" / "snmp"
V3 = {
    "version": "3",
    "auth_proto": "sha",
    "auth_key": "authpass123",
    "priv_proto": "aes",
    "priv_key": "privpass123",
}


def fleet_dir(tmp: Path, *names: str, recorded: tuple[str, ...] = ()) -> Path:
    data = tmp / "data"
    data.mkdir()
    for name in names:
        shutil.copyfile(DATA / f"{name}.snmprec", data / f"{name}.snmprec")
    for name in recorded:
        shutil.copyfile(recordings_dir() / f"{name}.snmprec", data / f"{name}.snmprec")
    return data


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    data = fleet_dir(
        tmp_path_factory.mktemp("snmp"),
        "router",
        "switch",
        "server",
        "broken",
        recorded=("linux-full-walk", "winxp-full-walk"),
    )
    with SnmpSimAgent(data) as a:
        yield a


@pytest.fixture(scope="module")
async def client():
    c = SnmpClient(timeout=0.3, retries=3)
    yield c
    c.engine.close_dispatcher()


class Out:
    """Collects what a poller publishes (topic, record)."""

    def __init__(self) -> None:
        self.records: list = []

    async def __call__(self, topic, record) -> None:
        self.records.append((topic, record))

    def kind(self, kind: str) -> list:
        return [r for t, r in self.records if t == "observations.raw" and r.body.kind == kind]

    def events(self) -> list[tuple[str, str, str | None]]:
        return [(r.body.event, r.body.severity, r.body.resource) for r in self.kind("event")]

    def dead(self) -> list:
        return [r for t, r in self.records if t == "deadletter"]


def device(agent, community: str = "", **cred) -> Device:
    return Device(
        host="127.0.0.1", port=agent.port, credential=Credential(community=community or "x", **cred)
    )


async def test_discovery_facts_interfaces_and_topology(agent, client):
    infos = {}
    for name in ("router", "switch", "server"):
        infos[name] = await discover(client, await client.session(device(agent, name)))
    r, s, v = infos["router"], infos["switch"], infos["server"]
    assert (r.name, r.facts["type"], r.facts["vendor"]) == ("rtr1.lab", "router", "Cisco")
    assert (s.facts["type"], s.facts["vendor"], s.facts["model"]) == ("switch", "Arista", "DCS-7050SX-64")
    assert (v.facts["type"], v.facts["vendor"]) == ("server", "Net-SNMP") and v.host_resources
    assert r.facts["addresses"] == ["127.0.0.1", "10.0.0.1", "192.0.2.1"]
    ifaces = {i["name"]: i for i in r.facts["attributes"]["interfaces"]}
    assert ifaces["Gi0/1"] | {} == {
        "index": 2,
        "name": "Gi0/1",
        "alias": "spare wan",
        "type": 6,
        "speed_bps": 1_000_000_000,
        "admin": "up",
        "oper": "down",
        "mac": "00:11:22:33:44:02",
    }
    # The switch's LLDP neighbours point at the asset ids the router and server discover for themselves.
    edges = {e["target"]: (e["local_port"], e["remote_port"]) for e in s.edges}
    assert edges == {r.asset_id: ("Ethernet1", "Gi0/0"), v.asset_id: ("Ethernet2", "eth0")}
    assert r.asset_id == asset_id_for("device:rtr1.lab")


async def test_v3_auth_priv_sha_and_sha256_and_auth_no_priv(agent, client):
    for cred in (
        {**V3, "user": "authpriv"},
        {
            **V3,
            "user": "sha256",
            "auth_proto": "sha256",
            "auth_key": "authpass256",
            "priv_key": "privpass256",
        },
        {"version": "3", "user": "authonly", "auth_proto": "sha", "auth_key": "authpass123"},
        {"version": "3", "user": "noauth"},
    ):
        out = Out()
        poller = Poller(client, device(agent, context="router", **cred), Thresholds(), out)
        assert await poller.run(), poller.last_error
        assert poller.info.name == "rtr1.lab" and out.kind("discovery") and out.kind("metrics")


async def test_wrong_credentials_are_auth_failures_not_down(agent, client):
    for cred in (
        {**V3, "user": "authpriv", "auth_key": "wrong-key-123"},
        {**V3, "user": "authpriv", "priv_key": "wrong-key-123"},
        {**V3, "user": "nobody"},
    ):
        started = time.monotonic()
        with pytest.raises(SnmpAuthError, match="credentials rejected"):
            await discover(client, await client.session(device(agent, context="router", **cred)))
        assert time.monotonic() - started < 1.0  # an answer, not a timeout
        out = Out()
        poller = Poller(client, device(agent, context="router", **cred), Thresholds(), out)
        assert not await poller.run()
        assert out.events() == [("SNMP Auth Failure", "major", None)]
    # v2c: a wrong community is silence, indistinguishable from a dead device (documented).
    out = Out()
    assert not await Poller(client, device(agent, "no-such-community"), Thresholds(), out).run()
    assert out.events() == [("Device Unreachable", "critical", None)]


async def test_poll_rates_links_cpu_storage(agent, client):
    outs = {}
    for name in ("router", "server"):
        out = Out()
        poller = Poller(client, device(agent, name), Thresholds(), out)
        assert await poller.run()
        await asyncio.sleep(2.0)
        assert await poller.run()
        outs[name] = out
    samples = {
        (s.name, s.labels.get("interface") or s.labels.get("storage")): s.value
        for s in outs["router"].kind("metrics")[-1].body.samples
    }
    # ifHCInOctets.1 advances 125,000 B/s (numeric variation) = 1 Mb/s on a 1 Gb/s port
    assert samples[("if_in_bps", "Gi0/0")] == pytest.approx(1_000_000, rel=0.25)
    assert samples[("if_in_util_pct", "Gi0/0")] == pytest.approx(0.1, rel=0.25)
    # ifInErrors.1 advances 2/s in whole counts: over a ~2 s interval, ±1 count is ±0.5/s
    assert samples[("if_in_errors_ps", "Gi0/0")] == pytest.approx(2, abs=0.75)
    assert 0 <= samples[("snmp_latency_ms", None)] < 1000 and samples[("packet_loss_pct", None)] == 0
    assert ("LinkDown", "major", "Gi0/1") in outs["router"].events()
    last = outs["server"].kind("metrics")[-1].body.samples
    server = {(s.name, s.labels.get("storage")): s.value for s in last}
    assert server[("cpu_util_pct", None)] == 45
    assert server[("storage_used_pct", "/")] == 90
    assert ("Threshold storage_used_pct", "warning", "/") in outs["server"].events()


async def test_malformed_values_are_dead_lettered_not_fatal(agent, client):
    out = Out()
    poller = Poller(client, device(agent, "broken"), Thresholds(), out)
    assert await poller.run() and await poller.run()
    reasons = {d.reason.split(" ", 1)[1] for d in out.dead()}
    assert "1.3.6.1.2.1.1.3.0: expected an integer in [0, ∞]" in reasons  # sysUpTime as a string
    assert "1.3.6.1.2.1.2.2.1.8.1: expected an integer in [1, 7]" in reasons  # ifOperStatus 99
    assert any(r.startswith("1.3.6.1.2.1.31.1.1.1.6.1") for r in reasons)  # ifHCInOctets as a string
    letter = next(d for d in out.dead() if "31.1.1.1.6.1" in d.reason)
    assert json.loads(letter.payload)["value"] == "OctetString:not-a-counter"
    assert len(out.kind("metrics")) == 2 and out.kind("discovery")


@pytest.mark.parametrize(
    ("community", "name", "count"), [("linux-full-walk", "tt", 2), ("winxp-full-walk", "CRAY", 3)]
)
async def test_recordings_of_real_devices(agent, client, community, name, count):
    out = Out()
    poller = Poller(client, device(agent, community), Thresholds(), out)
    assert await poller.run(), poller.last_error
    assert await poller.run()
    facts = out.kind("discovery")[0].body.facts
    assert facts["name"] == name and facts["type"] == "server"
    assert len(facts["attributes"]["interfaces"]) == count
    assert {s.name for s in out.kind("metrics")[-1].body.samples} >= {"snmp_latency_ms", "sys_uptime_s"}
    # Memory-type storage ("Cached memory" is full by design) is measured but raises no threshold
    # alert; the disks and file systems above 85 % do.
    memory, disks = {
        "linux-full-walk": ("Cached memory", {"/export"}),
        "winxp-full-walk": (
            "Physical Memory",
            {"C:\\ Label:  Serial Number 1848504c", "Z:\\ Label:  Serial Number ba85e1bf"},
        ),
    }[community]
    samples = out.kind("metrics")[-1].body.samples
    assert memory in {s.labels.get("storage") for s in samples if s.name == "storage_used_pct"}
    assert {r for e, _, r in out.events() if e == "Threshold storage_used_pct"} == disks


async def test_wrap_stop_unreachable_restart_recovery_and_reboot(tmp_path, client):
    agent = SnmpSimAgent(fleet_dir(tmp_path, "legacy")).start()
    try:
        out = Out()
        poller = Poller(client, device(agent, "legacy"), Thresholds(), out)
        assert await poller.run() and not poller.info.hc
        # 1. ifInOctets (Counter32) wraps ~6 s after the agent started: the rate stays right across it.
        deadline, wrapped = time.monotonic() + 30, None
        while wrapped is None and time.monotonic() < deadline:
            before = poller.state.last.counters["1"]["in_octets"]
            await asyncio.sleep(1.0)
            assert await poller.run()
            if poller.state.last.counters["1"]["in_octets"] < before:
                wrapped = out.kind("metrics")[-1].body.samples
        assert wrapped is not None, "the 32-bit counter never wrapped"
        bps = next(s.value for s in wrapped if s.name == "if_in_bps")
        assert bps == pytest.approx(200_000_000 * 8, rel=0.15)
        # 2. The agent stops: no answer after 3 retries -> Device Unreachable (critical), once.
        agent.stop(cleanup=False)
        out.records.clear()
        assert not await poller.run() and not await poller.run()
        assert poller.session.stats.requests == 4  # first try + 3 retries
        assert out.events() == [("Device Unreachable", "critical", None)]
        assert [(s.name, s.value) for o in out.kind("metrics") for s in o.body.samples] == [
            ("packet_loss_pct", 100.0)
        ] * 2
        down = out.kind("event")[0]
        # 3. Restarted (numeric counters and sysUpTime start over = a reboot): clear + reboot event.
        agent.start()
        out.records.clear()
        assert await poller.run(), poller.last_error
        events = out.events()
        assert ("Device Unreachable", "ok", None) in events and ("Device Rebooted", "warning", None) in events
        assert {r.asset_id for r in out.kind("event")} == {down.asset_id}
        assert not [s for s in out.kind("metrics")[-1].body.samples if s.name == "if_in_bps"]  # re-baselined
    finally:
        agent.stop()


def test_cli_discover_and_poll_json(agent):
    def ems(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ems.cli", "snmp", *args], capture_output=True, text=True, timeout=120
        )

    target = f"127.0.0.1:{agent.port}"
    done = ems("discover", target, "--community", "switch", "--json")
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)
    assert item["facts"]["name"] == "sw1.lab" and len(item["neighbours"]) == 2
    assert len(item["facts"]["attributes"]["interfaces"]) == 3
    # A range: every address is probed at once; the ones that do not answer are not devices.
    done = ems(
        "discover", f"127.0.0.0/30:{agent.port}", "--community", "router", "--timeout", "0.3", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert [i["target"] for i in json.loads(done.stdout)] == [target]
    done = ems(
        "poll",
        target,
        "--v3-user",
        "authpriv",
        "--auth-proto",
        "sha",
        "--auth-key",
        "authpass123",
        "--priv-proto",
        "aes",
        "--priv-key",
        "privpass123",
        "--context",
        "server",
        "--wait",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "cpu_util_pct" in done.stdout and "if_in_bps" in done.stdout
    done = ems(
        "discover",
        target,
        "--v3-user",
        "authpriv",
        "--auth-proto",
        "sha",
        "--auth-key",
        "bad-key-123",
        "--priv-proto",
        "aes",
        "--priv-key",
        "privpass123",
        "--context",
        "router",
    )
    assert (
        done.returncode == 1
        and "auth failure" in done.stdout
        and "bad-key-123" not in done.stdout + done.stderr
    )
