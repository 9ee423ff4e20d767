import base64
from datetime import UTC, datetime

import pytest
from starlette.datastructures import QueryParams

from ems.api.alert_filters import Column
from ems.api.alert_query import build_list, decode_cursor, encode_cursor, parse_sort, top_sql
from ems.api.errors import ApiError

CATALOG = {
    "alert_id": Column("text", False),
    "status": Column("text", False),
    "severity": Column("text", False),
    "severity_rank": Column("integer", False),
    "duplicate_count": Column("integer", False),
    "last_seen": Column("timestamp with time zone", False),
    "first_seen": Column("timestamp with time zone", False),
    "asset_id": Column("text", True),
    "assignee": Column("text", True),  # a column a later migration adds: filterable without code
    "tags": Column("ARRAY", False),
    "attributes": Column("jsonb", False),
    "title": Column("text", False),
    "muted": Column("boolean", False),  # migration 017: the latest notification decision's muting
    "muted_by": Column("jsonb", True),
}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def raw_cursor(body: bytes) -> str:
    return base64.urlsafe_b64encode(body).decode()


def build(query: str):
    return build_list(QueryParams(query), CATALOG)


def text(composed) -> str:
    return composed.as_string(None)


def test_defaults_sort_newest_first_with_id_tie_break_and_fetch_one_more() -> None:
    q = build("")
    assert text(q.select) == (
        'SELECT * FROM alerts ORDER BY "last_seen" DESC, "alert_id" DESC LIMIT %s OFFSET %s'
    )
    assert q.args == [51, 0] and q.page == 1 and q.total == "auto"


def test_equals_or_within_a_field_and_both_negation_forms() -> None:
    q = build("severity=critical&severity=major&status!=resolved&status=!closed")
    assert '"severity" = ANY(%s)' in text(q.where)
    assert '("status" <> ALL(%s))' in text(q.where)  # NOT NULL column: no IS NULL branch
    assert q.where_args == [["critical", "major"], ["resolved", "closed"]]


def test_negation_keeps_nulls_of_nullable_fields_and_any_new_column_filters() -> None:
    q = build("assignee!=bob")
    assert '("assignee" IS NULL OR "assignee" <> ALL(%s))' in text(q.where)
    assert q.where_args == [["bob"]]


def test_muted_filters_as_a_boolean_in_any_case_and_muted_by_by_key() -> None:
    q = build("muted=TRUE")
    assert '"muted" = ANY(%s)' in text(q.where) and q.where_args == [[True]]
    assert build("muted=false").where_args == [[False]]
    q = build("muted_by.silences=~sil_x")
    assert """("muted_by" ->> %s) ~ %s""" in text(q.where) and q.where_args == ["silences", "sil_x"]


def test_regex_presence_and_ranges() -> None:
    q = build("title=~^Disk&asset_id!=~^lab-&assignee=*&duplicate_count>=5&last_seen<=2026-01-01T00:00:00Z")
    w = text(q.where)
    assert '"title"::text ~ %s' in w
    assert '("asset_id" IS NULL OR NOT ("asset_id"::text ~ %s))' in w
    assert '"assignee" IS NOT NULL' in w
    assert '"duplicate_count" >= %s' in w and '"last_seen" <= %s' in w
    assert q.where_args == ["^Disk", "^lab-", 5, AT]


def test_attribute_keys_match_string_or_json_scalar_presence_and_negation() -> None:
    q = build("attributes.region=eu-west-1&attributes.rack=12&attributes.team=*&attributes.zone!=a")
    w = text(q.where)
    assert '("attributes" @> %s::jsonb)' in w
    assert '("attributes" @> %s::jsonb OR "attributes" @> %s::jsonb)' in w
    assert '"attributes" ? %s' in w and 'NOT (("attributes" @> %s::jsonb))' in w
    assert q.where_args == ['{"region":"eu-west-1"}', '{"rack":"12"}', '{"rack":12}', "team", '{"zone":"a"}']


def test_tags_contain_each_value_and_alias() -> None:
    q = build("tag=net&tags=db&tag!=lab")
    assert text(q.where).count('"tags" @> %s') == 3 and 'NOT ("tags" @> %s)' in text(q.where)
    assert q.where_args == [["net"], ["db"], ["lab"]]


def test_free_text_escapes_like_wildcards_and_time_range() -> None:
    q = build("q=50%_up&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
    assert "ILIKE %s" in text(q.where) and '"last_seen" >= %s' in text(q.where)
    assert q.where_args[0] == "%50\\%\\_up%"


def test_multi_field_sort_and_severity_alias() -> None:
    keys = parse_sort(["severity,-last_seen"], CATALOG)
    assert [(k.column, k.descending) for k in keys] == [
        ("severity_rank", False),
        ("last_seen", True),
        ("alert_id", True),
    ]


def test_cursor_round_trip_uses_row_comparison_when_directions_agree() -> None:
    keys = parse_sort(["-last_seen"], CATALOG)
    cursor = encode_cursor(keys, {"last_seen": AT, "alert_id": "alr_1"})
    assert decode_cursor(cursor, keys) == [AT, "alr_1"]
    q = build(f"cursor={cursor}&status=open")
    assert '("last_seen", "alert_id") < (%s, %s)' in text(q.select)
    assert q.args == [["open"], AT, "alr_1", 51, 0] and q.page is None
    assert "last_seen" not in text(q.where)  # the total ignores the cursor


def test_cursor_mixed_directions_and_nullable_keys_expand_with_leading_bound() -> None:
    keys = parse_sort(["severity,-asset_id"], CATALOG)
    cursor = encode_cursor(keys, {"severity_rank": 1, "asset_id": None, "alert_id": "a"})
    q = build(f"sort=severity,-asset_id&cursor={cursor}")
    s = text(q.select)
    assert '"severity_rank" >= %s AND ((("severity_rank" > %s)) OR ' in s
    assert '("severity_rank" = %s AND "asset_id" IS NOT NULL)' in s  # NULL sorts first descending
    assert '("severity_rank" = %s AND "asset_id" IS NULL AND "alert_id" < %s)' in s
    assert q.args == [1, 1, 1, 1, "a", 51, 0]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("colour=red", "unknown filter 'colour'"),
        ("attributes=x", "filter attributes by key"),
        ("status.x=1", "only JSON fields take a .key"),
        ("tags>=a", ">= and <= need a scalar field"),
        ("duplicate_count=many", "duplicate_count is integer, got 'many'"),
        ("muted=yes", "muted is boolean, got 'yes'"),
        ("title=~(", "invalid regular expression"),
        ("sort=tags", "cannot sort by 'tags'"),
        ("sort=status,-status", "sort names status twice"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("from=yesterday", "from must be an ISO-8601 time"),
        ("total=maybe", "total must be auto, exact or false"),
        ("cursor=@@@", "invalid cursor"),
        ("cursor=e30=", "invalid cursor"),
        ("page=2&cursor=x", "use either page or cursor"),
        (
            "cursor=" + raw_cursor(b'{"s":"-last_seen,-alert_id","v":["x","a"]}'),
            "bad time for last_seen",
        ),
        (
            "sort=duplicate_count&cursor=" + raw_cursor(b'{"s":"duplicate_count,alert_id","v":["9","a"]}'),
            "bad value for duplicate_count (integer)",
        ),
    ],
)
def test_bad_parameters_are_400_with_reason(query, reason) -> None:
    with pytest.raises(ApiError) as err:
        build(query)
    assert err.value.status == 400 and reason in err.value.reason


def test_cursor_made_for_another_sort_is_rejected() -> None:
    cursor = encode_cursor(parse_sort(["-last_seen"], CATALOG), {"last_seen": AT, "alert_id": "a"})
    with pytest.raises(ApiError) as err:
        build(f"sort=first_seen&cursor={cursor}")
    assert "cursor was made for sort=-last_seen,-alert_id" in err.value.reason


def test_top_kinds() -> None:
    select, args = top_sql(QueryParams("by=standing&n=5&severity=critical"), CATALOG)
    assert "status <> ALL(%s)" in text(select) and "ORDER BY first_seen ASC" in text(select)
    assert args == [["critical"], ["resolved", "closed", "expired"], 5]
    select, args = top_sql(QueryParams("by=flapping&window=60"), CATALOG)
    assert "FROM alert_history" in text(select) and args[0] == 60 and args[-1] == 10
    select, args = top_sql(QueryParams("by=duplicates"), CATALOG)
    assert "ORDER BY duplicate_count DESC" in text(select)
    with pytest.raises(ApiError, match="by must be duplicates, flapping or standing"):
        top_sql(QueryParams("by=loudest"), CATALOG)


def test_cursor_pages_skip_the_total_unless_asked() -> None:
    cursor = encode_cursor(parse_sort(["-last_seen"], CATALOG), {"last_seen": AT, "alert_id": "a"})
    assert build(f"cursor={cursor}").total is None
    assert build(f"cursor={cursor}&total=exact").total == "exact"
