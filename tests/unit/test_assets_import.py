"""`ems assets import`: the file checked whole before anything is appended; creates, updates, links."""

from __future__ import annotations

import pytest

from ems.assets_cli import BadImport, commands, parse
from ems.schemas.identity import asset_id_for

GOOD = {
    "assets": [
        {"natural_key": "device:core-1", "name": "core-1", "type": "router", "criticality": 5},
        {
            "id": "ast_checkout",
            "name": "checkout",
            "type": "service",
            "revenue_per_hour": 25000,
            "dependencies": [{"type": "depends_on", "target": "ast_app"}],
        },
    ],
    "edges": [{"source": "ast_app", "type": "runs_on", "target": "ast_srv"}],
}


def test_every_bad_item_is_named_and_nothing_is_returned() -> None:
    bad = {
        "assets": [
            {"name": "x", "type": "router", "criticality": 9},
            {"natural_key": "k", "type": "switch"},
            {"name": "anonymous", "type": "server"},
            {"id": "ast_x1", "natural_key": "other", "name": "x1", "type": "vm"},
        ],
        "edges": [{"source": "bad", "type": "connected_to", "target": "ast_x1"}, {"type": "likes"}],
    }
    with pytest.raises(BadImport) as info:
        parse(bad)
    text = str(info.value)
    for part in (
        "assets[0]: criticality",
        "assets[1]: name: Field required",
        "assets[2]: give an id or a natural_key",
        "assets[3]: id ast_x1 is not asset_id_for('other')",
        "edges[0].source:",
        "edges[1]: expected an object with source",
    ):
        assert part in text
    with pytest.raises(BadImport, match="listed twice"):
        parse([{"id": "ast_a1", "name": "a", "type": "vm"}, {"id": "ast_a1", "name": "b", "type": "vm"}])


def test_new_assets_are_created_known_ones_updated_and_edges_linked() -> None:
    assets, edges = parse(GOOD)
    core = asset_id_for("device:core-1")
    fresh = commands(assets, edges, existing=set())
    assert [(c.name, c.target) for c in fresh] == [
        ("asset.create", core),
        ("asset.create", "ast_checkout"),
        ("asset.link", "ast_app"),
    ]
    assert fresh[1].args["dependencies"] == [
        {"type": "depends_on", "target": "ast_app", "origin": "operator", "attributes": {}}
    ]
    again = commands(assets, edges, existing={"ast_checkout"})
    assert [(c.name, c.target) for c in again] == [
        ("asset.create", core),
        ("asset.update", "ast_checkout"),
        ("asset.link", "ast_checkout"),
        ("asset.link", "ast_app"),
    ]
    assert again[1].args == {"name": "checkout", "type": "service", "revenue_per_hour": 25000.0}
    # The same file gives the same command ids: the registry takes a second run for a retry.
    assert [c.event_id for c in commands(assets, edges, set())] == [c.event_id for c in fresh]
