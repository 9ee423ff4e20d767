"""Discovery core, vendor guesses and the collector configuration."""

import json

import pytest

from ems.collectors import snmp_mib as mib
from ems.collectors.snmp_config import CollectorConfig, Credential, load_config, parse_target
from ems.collectors.snmp_discovery import WALK_ROOTS, build_info, observation
from ems.collectors.snmp_vendors import guess
from ems.schemas.identity import asset_id_for


def walked(**tables):
    out = {root: {} for root in WALK_ROOTS}
    out.update(tables)
    return out


def test_facts_interfaces_and_lldp_edges():
    system = {
        mib.SYS_NAME: b"Core-RTR-1",
        mib.SYS_DESCR: b"Cisco IOS Software, C3900",
        mib.SYS_UPTIME: 42,
        mib.SYS_OBJECT_ID: "1.3.6.1.4.1.9.1.1009",
        mib.SYS_LOCATION: b"DC1",
        mib.SYS_CONTACT: b"noc",
    }
    tables = walked(
        **{
            mib.IF_ENTRY: {
                "2.1": b"GigabitEthernet0/0",
                "3.1": 6,
                "5.1": 1_000_000_000,
                "6.1": bytes.fromhex("001122334455"),
                "7.1": 1,
                "8.1": 2,
            },
            mib.IFX_ENTRY: {"1.1": b"Gi0/0", "15.1": 1000, "18.1": b"uplink", "6.1": 5},
            mib.IP_AD_IFINDEX: {"10.0.0.1": 1, "127.0.0.1": 9},
            mib.LLDP_REM: {
                "5.0.1.1": bytes.fromhex("aabbcc000001"),
                "7.0.1.1": b"Ethernet1",
                "9.0.1.1": b"SW1.lab",
            },
            mib.LLDP_LOC_PORT: {"3.1": b"Gi0/0"},
        }
    )
    info = build_info("192.0.2.7", system, tables)
    assert info.natural_key == "device:core-rtr-1"
    assert info.asset_id == asset_id_for("device:core-rtr-1")
    assert info.facts["type"] == "router" and info.facts["vendor"] == "Cisco"
    assert info.facts["addresses"] == ["192.0.2.7", "10.0.0.1"]
    assert info.facts["location"] == "DC1" and info.facts["contact"] == "noc"
    iface = info.facts["attributes"]["interfaces"][0]
    assert iface == {
        "index": 1,
        "name": "Gi0/0",
        "alias": "uplink",
        "type": 6,
        "speed_bps": 1_000_000_000,
        "admin": "up",
        "oper": "down",
        "mac": "00:11:22:33:44:55",
    }
    assert info.hc and not info.host_resources and info.problems == []
    obs = observation(info)
    assert obs.source == "nms" and obs.body.kind == "discovery"
    assert obs.body.edges == [
        {
            "type": "connected_to",
            "target": asset_id_for("device:sw1.lab"),
            "target_name": "SW1.lab",
            "local_port": "Gi0/0",
            "remote_port": "Ethernet1",
        }
    ]
    json.dumps(obs.model_dump(mode="json"))


def test_device_without_name_is_keyed_by_address_and_bad_values_are_problems():
    info = build_info("10.9.9.9", {mib.SYS_UPTIME: b"x", mib.SYS_NAME: 7}, walked())
    assert info.natural_key == "device:7"
    assert {p.oid for p in info.problems} == {mib.SYS_UPTIME, mib.SYS_NAME}
    info = build_info("10.9.9.9", {}, walked())
    assert info.natural_key == "device:10.9.9.9" and info.facts["type"] == "unknown"


@pytest.mark.parametrize(
    ("oid", "descr", "vendor", "kind"),
    [
        ("1.3.6.1.4.1.9.1.1009", "Cisco IOS", "Cisco", "router"),
        ("1.3.6.1.4.1.9.1.2", "Cisco Adaptive Security Appliance (ASA)", "Cisco", "firewall"),
        ("1.3.6.1.4.1.30065.1.1", "Arista Networks EOS", "Arista", "switch"),
        ("1.3.6.1.4.1.8072.3.2.10", "Linux srv 5.10", "Net-SNMP", "server"),
        ("1.3.6.1.4.1.12356.101.1", "FortiGate-100F", "Fortinet", "firewall"),
        ("1.3.6.1.4.1.55555.1", "something", "enterprise 55555", "unknown"),
    ],
)
def test_vendor_table(oid, descr, vendor, kind):
    g = guess(oid, descr)
    assert (g.vendor, g.type) == (vendor, kind)


def test_config_resolves_credentials_per_device_and_subnet(tmp_path):
    path = tmp_path / "snmp.yaml"
    path.write_text(
        """
credentials:
  default: {community: public}
  v3: {version: "3", user: ops, auth_proto: sha256, auth_key: secret-auth-key,
       priv_proto: aes, priv_key: secret-priv}
  lab: {community: lab-secret}
subnets: [{cidr: 10.1.0.0/16, credential: v3, device_class: core}]
targets:
  - {host: 10.1.2.3}
  - {host: 10.1.2.4, credential: lab, tags: [dc1]}
  - {host: 192.168.5.0/30, port: 1161}
  - {host: 172.16.0.1}
intervals: {core: 30}
"""
    )
    cfg = load_config(path)
    devices = {d.address: d for d in cfg.devices()}
    assert set(devices) == {
        "10.1.2.3:161",
        "10.1.2.4:161",
        "192.168.5.1:1161",
        "192.168.5.2:1161",
        "172.16.0.1:161",
    }
    assert devices["10.1.2.3:161"].credential.level == "authPriv"
    assert devices["10.1.2.3:161"].device_class == "core" and cfg.interval_for("core") == 30
    assert devices["10.1.2.4:161"].credential.community.get_secret_value() == "lab-secret"
    assert devices["192.168.5.1:1161"].from_range and not devices["172.16.0.1:161"].from_range
    assert cfg.interval_for("default") == 60
    assert "secret" not in repr(cfg) and "secret" not in str(devices)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="unknown credential 'nope'"):
        CollectorConfig(targets=[{"host": "a", "credential": "nope"}])
    with pytest.raises(ValueError, match="at least 8 characters"):
        Credential(version="3", user="u", auth_proto="sha", auth_key="short")
    with pytest.raises(ValueError, match="needs authentication"):
        Credential(version="3", user="u", priv_proto="aes", priv_key="12345678")
    with pytest.raises(ValueError, match="more than max_range_hosts"):
        CollectorConfig(targets=[{"host": "10.0.0.0/8"}]).devices()
    assert parse_target("h:1161") == ("h", 1161) and parse_target("h") == ("h", 161)
    assert parse_target("[::1]:16100") == ("::1", 16100)


def test_collector_config_from_settings_without_a_file():
    from ems.collectors.snmp_cli import config_from
    from ems.settings import Settings

    settings = Settings(snmp_targets=["10.0.0.1:1161", "10.0.0.2"], snmp_community="ops-ro", snmp_interval=30)
    cfg = config_from(settings)
    assert [d.address for d in cfg.devices()] == ["10.0.0.1:1161", "10.0.0.2:161"]
    assert cfg.devices()[0].credential.community.get_secret_value() == "ops-ro"
    assert cfg.interval_for("default") == 30 and cfg.retries == 3
