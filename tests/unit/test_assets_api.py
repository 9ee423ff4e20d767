"""The asset API's pure parts: topology parameters, walk SQL, OpenAPI paths."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from ems.api.errors import ApiError
from ems.api.table import document
from ems.api.topology import WALK_SQL, parse_depth, parse_types


def test_depth_is_bounded() -> None:
    assert parse_depth(QueryParams(""), 3, 20) == 3
    assert parse_depth(QueryParams("depth=20"), 3, 20) == 20
    for bad in ("0", "21", "-1", "x"):
        with pytest.raises(ApiError, match="between 1 and 20"):
            parse_depth(QueryParams(f"depth={bad}"), 3, 20)


def test_edge_types_repeat_or_comma_separate() -> None:
    assert parse_types(QueryParams("type=depends_on,runs_on&type=member_of")) == [
        "depends_on",
        "runs_on",
        "member_of",
    ]
    assert parse_types(QueryParams(""), ("depends_on",)) == ["depends_on"]
    with pytest.raises(ApiError, match="unknown edge type"):
        parse_types(QueryParams("type=likes"))


def test_walks_follow_edges_forward_upstream_and_backwards_downstream() -> None:
    assert "d.source_id = w.asset_id" in WALK_SQL["upstream"] and "SELECT d.target_id" in WALK_SQL["upstream"]
    assert "d.target_id = w.asset_id" in WALK_SQL["downstream"]
    # The recursion itself is a UNION (a cycle repeats nothing); only the two ways out of a node add up.
    assert "  UNION\n    SELECT n.asset_id" in WALK_SQL["upstream"]


def test_links_are_crossed_both_ways_in_both_directions() -> None:
    for direction in ("upstream", "downstream"):
        assert "d.type = 'connected_to'" in WALK_SQL[direction]
    assert (
        "SELECT d.source_id FROM asset_dependencies d\n        WHERE d.target_id = w.asset_id"
        in (WALK_SQL["upstream"])
    )
    assert (
        "SELECT d.target_id FROM asset_dependencies d\n        WHERE d.source_id = w.asset_id"
        in (WALK_SQL["downstream"])
    )


def test_openapi_documents_the_asset_paths() -> None:
    spec = document()
    assert {"post", "get"} <= set(spec["paths"]["/api/v1/assets"])
    assert "/api/v1/services/{name}/graph" in spec["paths"]
    assert "AssetCreate" in spec["components"]["schemas"] and "Edge" in spec["components"]["schemas"]
