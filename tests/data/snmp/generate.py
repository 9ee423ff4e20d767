"""Writes the .snmprec files of the SNMP tests (sorted by numeric OID, as snmpsim needs)."""

import os

OUT = os.path.dirname(os.path.abspath(__file__))
IF, IFX, SYS = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1", "1.3.6.1.2.1.1"
REM, LOC = "1.0.8802.1.1.2.1.4.1.1", "1.0.8802.1.1.2.1.3.7.1"


def system(descr, oid, name, uptime=1000):
    return [
        (f"{SYS}.1.0", "4", descr),
        (f"{SYS}.2.0", "6", oid),
        (f"{SYS}.3.0", "67:numeric", f"rate=100,initial={uptime}"),
        (f"{SYS}.4.0", "4", "noc@example.net"),
        (f"{SYS}.5.0", "4", name),
        (f"{SYS}.6.0", "4", "Lab rack 3"),
    ]


def iface(i, name, alias, mac, admin=1, oper=1, speed_mbps=1000, rate=1000, hc=True, itype=6, in32=None):
    rows = [
        (f"{IF}.1.{i}", "2", i),
        (f"{IF}.2.{i}", "4", name),
        (f"{IF}.3.{i}", "2", itype),
        (f"{IF}.5.{i}", "66", min(speed_mbps * 1_000_000, 4294967295)),
        (f"{IF}.6.{i}", "4x" if mac else "4", mac),
        (f"{IF}.7.{i}", "2", admin),
        (f"{IF}.8.{i}", "2", oper),
        (f"{IF}.10.{i}", "65:numeric", in32 or f"rate={rate},initial=5000,max=4294967296,wrap=1"),
        (f"{IF}.13.{i}", "65", 0),
        (f"{IF}.14.{i}", "65:numeric", "rate=2,initial=10"),
        (f"{IF}.16.{i}", "65:numeric", f"rate={rate // 2},initial=7000,max=4294967296,wrap=1"),
        (f"{IF}.19.{i}", "65", 0),
        (f"{IF}.20.{i}", "65", 0),
    ]
    if hc:
        rows += [
            (f"{IFX}.1.{i}", "4", name),
            (f"{IFX}.6.{i}", "70:numeric", f"rate={rate},initial=10000000000"),
            (f"{IFX}.10.{i}", "70:numeric", f"rate={rate // 2},initial=20000000000"),
            (f"{IFX}.15.{i}", "66", speed_mbps),
            (f"{IFX}.18.{i}", "4", alias),
        ]
    return rows


def ip(addr, ifindex):
    return [(f"1.3.6.1.2.1.4.20.1.1.{addr}", "64", addr), (f"1.3.6.1.2.1.4.20.1.2.{addr}", "2", ifindex)]


def lldp(local, name, port, descr="", chassis="aabbcc000001"):
    idx = f"0.{local}.1"
    return [
        (f"{REM}.4.{idx}", "2", 4),
        (f"{REM}.5.{idx}", "4x", chassis),
        (f"{REM}.6.{idx}", "2", 5),
        (f"{REM}.7.{idx}", "4", port),
        (f"{REM}.8.{idx}", "4", descr),
        (f"{REM}.9.{idx}", "4", name),
        (f"{REM}.10.{idx}", "4", "sim"),
    ]


def locport(n, name):
    return [(f"{LOC}.2.{n}", "2", 5), (f"{LOC}.3.{n}", "4", name), (f"{LOC}.4.{n}", "4", name)]


def write(name, rows):
    rows = sorted(rows, key=lambda r: tuple(int(x) for x in r[0].split(".")))
    with open(os.path.join(OUT, name + ".snmprec"), "w") as f:
        for oid, tag, val in rows:
            f.write(f"{oid}|{tag}|{val}\n")


write(
    "router",
    system(
        "Cisco IOS Software, C3900 Software (C3900-UNIVERSALK9-M), Version 15.4(3)M2",
        "1.3.6.1.4.1.9.1.1009",
        "rtr1.lab",
    )
    + iface(1, "Gi0/0", "uplink to sw1", "001122334401", rate=125000)
    + iface(2, "Gi0/1", "spare wan", "001122334402", oper=2)
    + ip("10.0.0.1", 1)
    + ip("192.0.2.1", 2)
    + lldp(1, "sw1.lab", "Ethernet1", "to rtr1")
    + locport(1, "Gi0/0")
    + locport(2, "Gi0/1"),
)
write(
    "switch",
    system(
        "Arista Networks EOS version 4.28.3M running on an Arista Networks DCS-7050SX-64",
        "1.3.6.1.4.1.30065.1.3011.7050.3741.64",
        "sw1.lab",
    )
    + iface(1, "Ethernet1", "to rtr1", "00aabb000001", speed_mbps=10000, rate=2000)
    + iface(2, "Ethernet2", "to srv1", "00aabb000002", speed_mbps=10000)
    + iface(3, "Ethernet3", "unused", "00aabb000003", admin=2, oper=2)
    + ip("10.0.0.2", 1)
    + lldp(1, "rtr1.lab", "Gi0/0", "uplink to sw1", "001122334401")
    + lldp(2, "srv1.lab", "eth0", "", "52540000aa01")
    + locport(1, "Ethernet1")
    + locport(2, "Ethernet2")
    + locport(3, "Ethernet3"),
)
HR = "1.3.6.1.2.1.25"
write(
    "server",
    system(
        "Linux srv1 5.10.0-21-amd64 #1 SMP Debian 5.10.162-1 (2023-01-21) x86_64",
        "1.3.6.1.4.1.8072.3.2.10",
        "srv1.lab",
    )
    + iface(1, "lo", "", "", itype=24, speed_mbps=10)
    + iface(2, "eth0", "", "52540000aa01", rate=500000)
    + ip("10.0.0.10", 2)
    + ip("127.0.0.1", 1)
    + [(f"{HR}.3.3.1.2.196608", "2", 35), (f"{HR}.3.3.1.2.196609", "2", 55)]
    + [(f"{HR}.2.3.1.1.{i}", "2", i) for i in (1, 31)]
    + [
        (f"{HR}.2.3.1.2.1", "6", f"{HR}.2.1.2"),
        (f"{HR}.2.3.1.2.31", "6", f"{HR}.2.1.4"),
        (f"{HR}.2.3.1.3.1", "4", "Physical memory"),
        (f"{HR}.2.3.1.3.31", "4", "/"),
        (f"{HR}.2.3.1.4.1", "2", 1024),
        (f"{HR}.2.3.1.4.31", "2", 4096),
        (f"{HR}.2.3.1.5.1", "2", 16000000),
        (f"{HR}.2.3.1.5.31", "2", 10000000),
        (f"{HR}.2.3.1.6.1", "2", 8000000),
        (f"{HR}.2.3.1.6.31", "2", 9000000),
    ],
)
# 32-bit counters only; ifInOctets.1 wraps 6 s after the agent starts and every 21.5 s after (200 MB/s).
write(
    "legacy",
    system("HP ProCurve J4813A Switch 2524, revision F.05.17", "1.3.6.1.4.1.11.2.3.7.11.19", "old.lab")
    + iface(
        1,
        "1",
        "",
        "0001e6000001",
        speed_mbps=4000,
        hc=False,
        in32=f"rate=200000000,initial={2**32 - 1_200_000_000},max=4294967296,wrap=1",
    ),
)
# Garbage from a broken agent: wrong types and out-of-range values where numbers belong.
bad = system("Broken agent", "1.3.6.1.4.1.99999.1", "bad.lab") + iface(1, "eth0", "", "0001e6000009")
bad = [r for r in bad if r[0] not in (f"{SYS}.3.0", f"{IFX}.6.1", f"{IF}.8.1", f"{IFX}.15.1")]
bad += [
    (f"{SYS}.3.0", "4", "garbage"),
    (f"{IFX}.6.1", "4", "not-a-counter"),
    (f"{IF}.8.1", "2", 99),
    (f"{IFX}.15.1", "4", "fast"),
]
write("broken", bad)
