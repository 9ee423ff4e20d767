from psycopg.types.json import Jsonb

from ems.agents.dedupe import fold
from ems.projections.alerts import AlertsProjection
from ems.projections.base import Upsert
from ems.projections.events import EventsProjection
from ems.schemas.alert import AlertChangedBatch
from ems.schemas.event import EventBatch
from tests.unit.helpers import LIFECYCLE, POLICY, event


def _sql(composed) -> str:
    return composed.as_string(None)


def test_versioned_upsert_keeps_highest_version_per_key() -> None:
    up = Upsert("t", ("k", "v", "x"), conflict=("k",), version="v")
    rows = [("a", 1, "old"), ("b", 5, "b5"), ("a", 3, "new"), ("a", 2, "mid")]
    assert sorted(up.collapse(rows)) == [("a", 3, "new"), ("b", 5, "b5")]
    text = _sql(up.statement())
    assert 'ON CONFLICT ("k") DO UPDATE SET "v" = EXCLUDED."v", "x" = EXCLUDED."x"' in text
    assert 'WHERE "t"."v" < EXCLUDED."v"' in text


def test_staged_statements_copy_then_insert_select_with_the_same_conflict_rule() -> None:
    up = Upsert("t", ("k", "v", "x"), conflict=("k",), version="v")
    create, copy, insert = (_sql(q) for q in up.stage_statements())
    assert (
        create
        == 'CREATE TEMP TABLE IF NOT EXISTS "stage_t" (LIKE "t" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    assert copy == 'COPY "stage_t" ("k", "v", "x") FROM STDIN'
    assert insert.startswith(
        'INSERT INTO "t" ("k", "v", "x") SELECT "k", "v", "x" FROM "stage_t" ON CONFLICT'
    )
    assert insert.split(" ON CONFLICT ", 1)[1] == _sql(up.statement()).split(" ON CONFLICT ", 1)[1]


def test_append_upsert_keeps_first_and_does_nothing_on_conflict() -> None:
    up = Upsert("t", ("id", "x"), conflict=("id",))
    assert up.collapse([("a", 1), ("a", 2), ("b", 3)]) == [("a", 1), ("b", 3)]
    assert _sql(up.statement()).endswith("DO NOTHING")


def test_events_projection_maps_every_column() -> None:
    ev = event(offset=7, partition=2)
    [(up, row)] = list(EventsProjection().rows(EventBatch(partition=0, events=[ev])))
    assert up.table == "events" and len(row) == len(up.columns)
    values = dict(zip(up.columns, row, strict=True))
    assert values["event_id"] == ev.event_id and values["raw_offset"] == 7 and values["raw_partition"] == 2
    assert isinstance(values["attributes"], Jsonb)


def test_alerts_projection_maps_state_and_transitions() -> None:
    change = fold(None, [event(offset=0), event(severity="ok", offset=1)], LIFECYCLE).change()
    rows = list(AlertsProjection(POLICY).rows(AlertChangedBatch(partition=1, changes=[change])))
    alert_rows = [r for u, r in rows if u.table == "alerts"]
    history = [r for u, r in rows if u.table == "alert_history"]
    values = dict(zip(AlertsProjection.alert.columns, alert_rows[0], strict=True))
    assert values["status"] == "resolved" and values["version"] == 2 and values["event_count"] == 2
    assert values["severity_rank"] == POLICY.order.index("ok")
    assert [h[2] for h in history] == ["opened", "resolved"]


def test_a_batch_maps_to_one_row_per_event() -> None:
    batch = EventBatch(partition=0, events=[event(offset=i) for i in range(3)])
    rows = [r for _, r in EventsProjection().rows(batch)]
    assert [r[0] for r in rows] == [e.event_id for e in batch.events]
