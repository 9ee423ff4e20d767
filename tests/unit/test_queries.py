import pytest
from psycopg import sql
from starlette.datastructures import QueryParams

from ems.api.cursor import pack
from ems.api.errors import ApiError
from ems.api.queries import ListSpec, build_list, decode_cursor

# A list over the alerts table, to exercise the generic builder (events and assets use it).
ALERTS = ListSpec(
    table="alerts",
    id_column="alert_id",
    equals={
        "severity": "severity",
        "status": "status",
        "asset_id": "asset_id",
        "source": "source",
        "environment": "environment",
        "resource": "resource",
        "event": "event",
        "fingerprint": "fingerprint",
        "trend": "trend",
    },
    sortable={
        "last_seen": "last_seen",
        "first_seen": "first_seen",
        "severity": "severity_rank",
        "event_count": "event_count",
        "duplicate_count": "duplicate_count",
        "status": "status",
        "resource": "resource",
    },
    default_sort="-last_seen",
    time_column="last_seen",
    text_columns=("title", "text", "resource", "event", "asset_id"),
    array_columns={"tag": "tags", "service": "service"},
)


def build(query: str):
    return build_list(ALERTS, QueryParams(query), sql.SQL("*"))


def text(composed) -> str:
    return composed.as_string(None)


def test_defaults() -> None:
    q = build("")
    assert 'ORDER BY "last_seen" DESC, "alert_id" DESC LIMIT %s OFFSET %s' in text(q.select)
    assert q.params == [50, 0] and q.page == 1


def test_filters_or_within_a_field_and_negation() -> None:
    q = build("severity=critical&severity=major&status=!resolved&tag=net&q=down&limit=10&page=3")
    s = text(q.select)
    assert '"severity" = ANY(%s)' in s and '"status" IS NULL OR "status" <> ALL(%s)' in s
    assert '"tags" @> %s' in s and "ILIKE %s" in s
    assert q.params == [["critical", "major"], ["resolved"], ["net"], "%down%", 10, 20]
    assert q.count_params == [["critical", "major"], ["resolved"], ["net"], "%down%"]


def test_cursor_uses_keyset_on_sort_column_and_id() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    cursor = pack("-last_seen", [at, "alr_1"])
    assert decode_cursor(cursor, "-last_seen") == (at, "alr_1")
    with pytest.raises(ApiError, match="made for sort=-last_seen"):
        decode_cursor(cursor, "last_seen")
    q = build(f"sort=-last_seen&cursor={cursor}")
    assert '("last_seen", "alert_id") < (%s, %s)' in text(q.select)
    assert q.params[-4:] == [at, "alr_1", 50, 0] and q.page is None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("sort=color", "cannot sort by 'color'"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=abc", "limit must be an integer"),
        ("from=yesterday", "from must be an ISO-8601 time"),
        ("colour=red", "unknown query parameter(s) colour"),
        ("cursor=@@@", "invalid cursor"),
    ],
)
def test_bad_parameters_are_400_with_reason(query, reason) -> None:
    with pytest.raises(ApiError) as err:
        build(query)
    assert err.value.status == 400 and reason in err.value.reason
