"""`python -m ems.bench.assets`: per-record cost of the asset stage's pure parts, no servers needed.

Prints: skimming raw records for discoveries with the byte test vs decoding each one (the baseline a
stage that parses every record, e.g. a Faust agent, pays before its per-record stream cost), and the
rate of applying commands and discoveries with the core.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ems.agents.assets import apply_command, apply_discovery
from ems.schemas.asset import Asset
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import Observation
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 1, 8, tzinfo=UTC)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({seconds / n * 1e6:.2f} µs each)"


def main(n: int = 100_000) -> None:
    events = [
        encode(
            Observation(
                source="nms",
                asset_id=f"ast_{i % 500}",
                body={"kind": "event", "event": "NodeDown", "severity": "critical", "title": f"down {i}"},
            )
        )
        for i in range(n)
    ]
    t = time.perf_counter()
    found = sum(1 for raw in events if b'"discovery"' in raw)
    skim = time.perf_counter() - t
    t = time.perf_counter()
    for raw in events:
        decode(raw, Observation)
    parse = time.perf_counter() - t
    assert found == 0
    print(f"skim raw records (byte test): {_rate(n, skim)}")
    print(f"decode raw records (baseline): {_rate(n, parse)}")
    print(f"ratio skim/decode throughput: {parse / skim:.0f}x")

    m = n // 10
    state: dict[str, Asset] = {}
    commands = [
        Command(name="asset.create", target=f"ast_{i}", actor="b", args={"name": f"a{i}", "type": "vm"})
        for i in range(m)
    ] + [
        Command(name="asset.update", target=f"ast_{i}", actor="b", args={"owner_team": "x"}) for i in range(m)
    ]
    t = time.perf_counter()
    for offset, cmd in enumerate(commands):
        out = apply_command(state.get(cmd.target), cmd, "commands:0", offset)
        state[cmd.target] = out.change.asset
    print(f"apply commands (create + update): {_rate(len(commands), time.perf_counter() - t)}")
    obs = [
        Observation(
            source="nms",
            asset_id=asset_id_for(f"device:d{i % 1000}"),
            occurred_at=T0 + timedelta(minutes=i),
            body={
                "kind": "discovery",
                "facts": {"natural_key": f"device:d{i % 1000}", "name": f"d{i}", "type": "switch", "ifs": 48},
                "edges": [{"type": "connected_to", "target": asset_id_for(f"device:d{(i + 1) % 1000}")}],
            },
        )
        for i in range(m)
    ]
    t = time.perf_counter()
    for offset, o in enumerate(obs):
        out = apply_discovery(state.get(o.asset_id), o, "raw:0", offset, 300)
        if out.change is not None:
            state[o.asset_id] = out.change.asset
    print(f"apply discoveries: {_rate(len(obs), time.perf_counter() - t)}")


if __name__ == "__main__":
    main()
