"""`GET /api/v1/services`' pure parts: its cursor, tenant conditions, answer and route."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ems.api.cursor import pack
from ems.api.errors import ApiError
from ems.api.service_list import ServiceListQuery, after_name, answer, statements
from ems.api.table import ENDPOINTS, document


def test_a_full_page_has_a_cursor_that_starts_the_next_after_its_last_name() -> None:
    rows = [{"name": "billing", "assets": 2, "open_alerts": 0, "worst_severity": None}] + [
        {"name": "payments", "assets": 7, "open_alerts": 3, "worst_severity": "critical"}
    ]
    full = answer(rows, total=5, limit=2)
    assert full["services"] == rows and full["total"] == 5
    assert after_name(full["next_cursor"]) == "payments"
    assert "next_cursor" not in answer(rows, total=2, limit=3)
    assert after_name(None) == after_name("") == ""


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("nonsense", "not a cursor returned as next_cursor"),
        (pack("name", ["x", "ast_1"]), "made for sort=name"),
        (pack("service", [3]), "bad value"),
        (pack("service", ["a\x00b"]), "bad value"),
    ],
)
def test_a_cursor_not_made_by_this_list_is_a_400(cursor: str, reason: str) -> None:
    with pytest.raises(ApiError, match=reason) as caught:
        after_name(cursor)
    assert caught.value.status == 400


def test_a_tenant_bound_caller_counts_only_its_own_assets_and_alerts() -> None:
    page, args, total, total_args = statements("acme")
    text = page.as_string(None)
    assert '"al"."tenant" = %s' in text and '"a"."tenant" = %s' in text
    assert args == ["acme", "acme"] and total_args == ["acme"]
    assert '"a"."tenant" = %s' in total.as_string(None)
    unbound, no_args, _, _ = statements(None)
    assert "tenant" not in unbound.as_string(None) and no_args == []


def test_the_limit_is_bounded_and_unknown_parameters_are_refused() -> None:
    assert ServiceListQuery().limit == 200
    for bad in ({"limit": 0}, {"limit": 1001}, {"sort": "name"}):
        with pytest.raises(ValidationError):
            ServiceListQuery(**bad)


def test_the_list_is_read_with_the_graphs_permission_and_documented() -> None:
    by_route = {(e.method, e.path): e for e in ENDPOINTS}
    listed, graph = by_route["GET", "/api/v1/services"], by_route["GET", "/api/v1/services/{name}/graph"]
    assert listed.permission == graph.permission == "read:assets"
    assert "get" in document()["paths"]["/api/v1/services"]
