"""The ticket list's `assignee=me` and `due_within` filters and the counts query, built without a
database (the SQL text and its parameters)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.datastructures import QueryParams

from ems.api.errors import ApiError
from ems.api.queries import build_list
from ems.api.tickets_query import LIST_COLUMNS, TICKETS, counts_sql, fold_counts, with_me


def test_assignee_me_stands_for_the_caller_and_other_values_are_kept() -> None:
    params = with_me(QueryParams("assignee=me&assignee=bob&status=new&assignee=!Me"), "key:ops")
    assert params.getlist("assignee") == ["key:ops", "bob", "!key:ops"]
    assert params.getlist("status") == ["new"]
    query = build_list(TICKETS, params, LIST_COLUMNS)
    assert query.params[:3] == [["new"], ["key:ops", "bob"], ["key:ops"]]  # status; include, exclude
    assert with_me(QueryParams("group=me"), "ann").getlist("group") == ["me"]  # only assignee


def test_group_mine_stands_for_the_callers_groups_and_for_none_when_in_none() -> None:
    groups = {"network": ["ann", "bob"], "db": ["ann"], "storage": ["kim"]}
    assert with_me(QueryParams("group=mine&status=new"), "ann", groups).getlist("group") == ["db", "network"]
    assert with_me(QueryParams("group=!Mine"), "bob", groups).getlist("group") == ["!network"]
    assert with_me(QueryParams("group=mine&group=ops"), "zoe", groups).getlist("group") == ["", "ops"]
    query = build_list(TICKETS, with_me(QueryParams("group=mine"), "zoe", groups), LIST_COLUMNS)
    assert query.params[0] == [""]  # no ticket has an empty group: nothing matches


def test_due_within_is_a_running_timer_due_between_now_and_now_plus_the_window() -> None:
    query = build_list(TICKETS, QueryParams("due_within=1h30m&priority=P1"), LIST_COLUMNS)
    text = query.select.as_string(None)
    assert "FROM sla_timers s" in text and "s.state = 'running'" in text
    assert "s.due_at > now() AND s.due_at <= now() + %s" in text
    assert query.params[:2] == [["P1"], timedelta(hours=1, minutes=30)]
    assert query.count_params == [["P1"], timedelta(hours=1, minutes=30)]


@pytest.mark.parametrize("value", ["soon", "30", "0m", "-5m", "2h-", "1m2h", ""])
def test_a_bad_due_within_is_a_422_naming_it(value) -> None:
    with pytest.raises(ApiError) as refused:
        build_list(TICKETS, QueryParams([("due_within", value)]), LIST_COLUMNS)
    assert refused.value.status == 422
    assert refused.value.errors[0]["field"] == "due_within"


def test_counts_group_the_filtered_tickets_without_paging() -> None:
    query = build_list(TICKETS, QueryParams("type=incident&breached=true"), LIST_COLUMNS)
    text = counts_sql(query.where).as_string(None)
    assert text.startswith("SELECT status, priority, type, assignment_group, (sla_breached_at")
    assert "WHERE" in text and '"type" = ANY(%s)' in text and "LIMIT" not in text
    assert "GROUP BY 1, 2, 3, 4, 5" in text
    assert (
        counts_sql(build_list(TICKETS, QueryParams(""), LIST_COLUMNS).where).as_string(None).count("WHERE")
        == 0
    )


def test_fold_counts_sums_each_field_and_the_breached_split() -> None:
    rows = [
        {
            "status": "new",
            "priority": "P1",
            "type": "incident",
            "assignment_group": "sd",
            "breached": True,
            "n": 2,
        },
        {
            "status": "new",
            "priority": "P3",
            "type": "problem",
            "assignment_group": None,
            "breached": False,
            "n": 1,
        },
        {
            "status": "closed",
            "priority": "P1",
            "type": "incident",
            "assignment_group": "sd",
            "breached": False,
            "n": 4,
        },
    ]
    assert fold_counts(rows) == {
        "total": 7,
        "by_status": {"new": 3, "closed": 4},
        "by_priority": {"P1": 6, "P3": 1},
        "by_type": {"incident": 6, "problem": 1},
        "by_group": {"sd": 6, "": 1},
        "breached": {"true": 2, "false": 5},
    }
    assert fold_counts([])["total"] == 0 and fold_counts([])["breached"] == {"true": 0, "false": 0}
