"""Attachments and a change's window on the ticket stage's pure core (agents/desk_actions.py,
agents/change_window.py): the commands decided, their ids across a restart, the suppression stage
applying a window command once, the projection's rows and the API's bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ems.agents.change_window import window_id_of
from ems.agents.suppressions import Suppressions
from ems.agents.tickets import Desk
from ems.api.ticket_parts import TicketAttach
from ems.api.tickets import TicketCreate
from ems.projections.tickets import TicketsProjection
from ems.schemas.command import Command
from ems.schemas.suppression import WindowArgs
from ems.schemas.ticket import TicketBatch

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
START, END = T0 + timedelta(hours=2), T0 + timedelta(hours=4)
WINDOW = {"start": START.isoformat(), "end": END.isoformat()}
DOC = {"attachment_id": "att_1", "name": "runbook.pdf", "url": "https://files.example/rb.pdf"}


class Feed:
    """Commands to one desk at increasing offsets of partition 0, each at T0 + `minutes`."""

    def __init__(self, desk: Desk) -> None:
        self.desk, self.offset = desk, 0

    def command(self, action: str, target: str, minutes: float = 0, **args) -> Command:
        at = T0 + timedelta(minutes=minutes)
        return Command(name=f"ticket.{action}", target=target, actor="alice", args=args, occurred_at=at)

    def __call__(self, action: str, target: str, minutes: float = 0, **args):
        outcome = self.desk.apply(self.command(action, target, minutes, **args), "commands:0", self.offset)
        self.offset += 1
        return outcome


def change(feed: Feed, **extra):
    """A change over asset ast_db1 and the service `billing`, with a window 2 to 4 hours from T0."""
    links = [{"kind": "asset", "ref": "ast_db1"}, {"kind": "alert", "ref": "al_1"}]
    args = {"type": "change", "title": "patch db", "services": ["billing"], "links": links, **extra}
    return feed("create", "tkt_c", **args)


def approve(feed: Feed) -> None:
    for i, status in enumerate(("assessment", "approved")):
        assert feed("transition", "tkt_c", 1 + i, to=status).change is not None


def test_an_attachment_is_kept_with_its_actor_and_time_and_removed_into_the_history() -> None:
    feed = Feed(Desk())
    feed("create", "tkt_a", title="disk full")
    attached = feed("attach", "tkt_a", 5, **DOC, content_type="application/pdf", size=2048).change
    assert attached.kind == "attached" and attached.actor == "alice"
    a = attached.attachment
    assert (a.name, a.url, a.content_type, a.size, a.at, a.by) == (
        "runbook.pdf",
        "https://files.example/rb.pdf",
        "application/pdf",
        2048,
        T0 + timedelta(minutes=5),
        "alice",
    )
    assert attached.ticket.attachments == [a]
    assert "has att_1 already" in feed("attach", "tkt_a", 6, **DOC).refused
    assert "ticket.attach: url" in feed("attach", "tkt_a", 6, **{**DOC, "url": "ftp://x/y"}).refused
    detached = feed("detach", "tkt_a", 7, attachment_id="att_1").change
    assert detached.kind == "detached" and detached.ticket.attachments == []
    assert (detached.attachment.removed_at, detached.attachment.removed_by) == (
        T0 + timedelta(minutes=7),
        "alice",
    )
    assert "no attachment att_1" in feed("detach", "tkt_a", 8, attachment_id="att_1").refused
    assert "no ticket 'tkt_zz'" in feed("attach", "tkt_zz", **DOC).refused


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "url": "ftp://files/a"}, "url"),
        ({"name": "a", "url": "https://"}, "url"),
        ({"name": "a", "url": "https://x/" + "a" * 2039}, "url"),
        ({"name": "a", "url": "https://x/a b"}, "url"),
        ({"name": "", "url": "https://x/a"}, "name"),
        ({"name": "n" * 201, "url": "https://x/a"}, "name"),
        ({"name": "a", "url": "https://x/a", "size": -1}, "size"),
    ],
)
def test_a_bad_attachment_body_names_the_field(body, field) -> None:
    with pytest.raises(ValidationError) as refused:
        TicketAttach.model_validate(body)
    assert refused.value.errors()[0]["loc"][0] == field
    TicketAttach.model_validate({"name": "n" * 200, "url": "http://x/" + "a" * 2039})  # the limits


def test_a_window_belongs_to_a_change_set_in_draft_or_assessment_only() -> None:
    feed = Feed(Desk())
    assert "change_window: only a change" in feed("create", "tkt_i", title="t", change_window=WINDOW).refused
    with pytest.raises(ValidationError, match="end must be after start"):
        TicketCreate.model_validate(
            {"type": "change", "title": "t", "change_window": {**WINDOW, "end": START}}
        )
    created = change(feed).change.ticket
    assert created.change_window is None
    feed("create", "tkt_i", title="an incident")
    assert "is not a change" in feed("change_window", "tkt_i", **WINDOW).refused
    set_ = feed("change_window", "tkt_c", 1, **WINDOW).change
    assert set_.kind == "change_window" and set_.ticket.change_window.start == START
    approve(feed)
    late = feed("change_window", "tkt_c", 5, **WINDOW).refused
    assert "is approved: a change's window is set in draft or assessment" in late


def test_scheduling_appends_one_window_the_api_would_and_closing_early_cancels_it() -> None:
    feed = Feed(Desk())
    change(feed, change_window=WINDOW)
    approve(feed)
    scheduled = feed.desk.apply(feed.command("transition", "tkt_c", 10, to="scheduled"), "commands:0", 9)
    version = scheduled.change.ticket.version
    window_id = window_id_of("tkt_c", version)
    assert scheduled.change.ticket.change_window.window_id == window_id
    assert window_id in scheduled.change.reason  # the history names it
    [create] = scheduled.commands
    assert (create.name, create.target, create.actor, create.event_id) == (
        "window.create",
        window_id,
        "alice",
        f"chg:tkt_c:{version}:window.create",
    )
    assert create.occurred_at == T0 + timedelta(minutes=10)
    args = WindowArgs.model_validate(create.args)  # what POST /api/v1/maintenance-windows appends
    assert args.rule(window_id, "alice").scope.asset_ids == frozenset({"ast_db1"})
    assert (args.scope.business_services, args.schedule.start, args.schedule.end) == ([], START, END)
    assert args.mode == "suppress" and args.title == "CHG0000001: patch db"
    for i, status in enumerate(("implementing", "review")):
        moved = feed.desk.apply(feed.command("transition", "tkt_c", 11 + i, to=status), "commands:0", 10 + i)
        assert moved.commands == ()  # still within its schedule
    closed = feed.desk.apply(feed.command("transition", "tkt_c", 30, to="closed"), "commands:0", 12)
    [cancel] = closed.commands
    assert (cancel.name, cancel.target, cancel.args) == ("window.cancel", window_id, {})
    assert cancel.event_id == f"chg:tkt_c:{closed.change.ticket.version}:window.cancel"
    assert closed.change.ticket.change_window.cancelled_at == T0 + timedelta(minutes=30)


def test_a_change_closed_after_its_window_or_without_one_appends_nothing() -> None:
    feed = Feed(Desk())
    change(feed, change_window=WINDOW)
    approve(feed)
    moves = [("scheduled", 10), ("implementing", 20), ("review", 30), ("closed", 5 * 60)]
    outcomes = [feed("transition", "tkt_c", m, to=s) for s, m in moves]
    assert [len(o.commands) for o in outcomes] == [1, 0, 0, 0]  # closed after the end: nothing to cancel
    other = Feed(Desk())
    change(other)
    approve(other)
    assert other("transition", "tkt_c", 10, to="scheduled").commands == ()


def test_a_change_linking_no_asset_covers_its_business_services() -> None:
    feed = Feed(Desk())
    feed("create", "tkt_c", type="change", title="t", services=["billing", "web"], change_window=WINDOW)
    approve(feed)
    [create] = feed("transition", "tkt_c", 10, to="scheduled").commands
    assert {k: v for k, v in create.args["scope"].items() if v} == {"business_services": ["billing", "web"]}


def test_a_window_touching_nothing_refuses_the_schedule() -> None:
    feed = Feed(Desk())
    feed("create", "tkt_c", type="change", title="patch", change_window=WINDOW)
    approve(feed)
    refused = feed("transition", "tkt_c", 10, to="scheduled")
    assert refused.change is None and "change_window" in refused.refused and "neither" in refused.refused
    assert feed.desk.tickets["tkt_c"].status == "approved"


def test_a_restarted_desk_makes_the_same_window_ids_and_the_suppression_stage_applies_them_once() -> None:
    desk = Desk()
    feed = Feed(desk)
    changes = [change(feed, change_window=WINDOW).change]
    for i, status in enumerate(("assessment", "approved")):
        changes.append(feed("transition", "tkt_c", 1 + i, to=status).change)
    record = desk.batch(changes)
    schedule = feed.command("transition", "tkt_c", 10, to="scheduled")
    first = desk.apply(schedule, "commands:0", 3)
    # The stage died after appending the window command, before its batch was recorded: the restarted
    # desk applies the same command again and makes the same command.
    restored = Desk()
    restored.restore([TicketBatch.model_validate_json(record.model_dump_json())])
    again = restored.apply(schedule, "commands:0", 3)
    assert again.commands == first.commands and again.change.ticket == first.change.ticket
    suppressions = Suppressions()
    made = suppressions.apply(first.commands[0], "commands:0", 0)
    assert made.change is not None and made.change.window.created_by == "alice"
    assert suppressions.apply(again.commands[0], "commands:0", 1).skipped  # the same command id
    assert list(suppressions.windows) == [first.change.ticket.change_window.window_id]


def test_projection_rows_of_an_attachment_and_a_window() -> None:
    desk = Desk()
    feed = Feed(desk)
    created = change(feed, change_window=WINDOW).change
    attached = feed("attach", "tkt_c", 1, **DOC).change
    detached = feed("detach", "tkt_c", 2, attachment_id="att_1").change
    proj = TicketsProjection()
    rows = list(proj.rows(desk.batch([created, attached, detached])))
    kept = [dict(zip(proj.attachment.columns, r, strict=True)) for u, r in rows if u is proj.attachment]
    assert [(r["attachment_id"], r["version"], r["removed_by"]) for r in kept] == [
        ("att_1", 2, None),
        ("att_1", 3, "alice"),
    ]
    assert proj.attachment.collapse([tuple(r.values()) for r in kept])[0][-1] == 3  # the removal wins
    ticket = dict(zip(proj.ticket.columns, [r for u, r in rows if u is proj.ticket][0], strict=True))
    assert ticket["change_window"].obj == {
        "start": START.isoformat().replace("+00:00", "Z"),
        "end": END.isoformat().replace("+00:00", "Z"),
        "window_id": None,
        "cancelled_at": None,
    }
