"""Tenants: the fingerprint rule, the pipeline carrying the tenant, and the API's one condition builder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql
from starlette.datastructures import QueryParams

from ems.agents.assets import apply_command, apply_discovery
from ems.agents.dedupe import alert_id_for, fold
from ems.agents.fingerprint import Fingerprinter
from ems.api import alert_query, queries, series, tenancy
from ems.api.alert_filters import Column
from ems.api.errors import ApiError
from ems.api.formats import alerta
from ems.api.formats.common import FormatError
from ems.api.security.principal import Principal
from ems.projections.alerts import ALERT_COLUMNS, AlertsProjection
from ems.projections.assets import ASSET_COLUMNS, AssetsProjection
from ems.projections.events import EVENT_COLUMNS, EventsProjection
from ems.schemas.alert import AlertState
from ems.schemas.command import Command
from ems.schemas.event import Event
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import Observation
from tests.unit.formats_helpers import SEVERITIES
from tests.unit.helpers import LIFECYCLE, NORMALIZER, POLICY, observation, parse_observations

T0 = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
VALUES = {"environment": "production", "resource": "r", "event": "e", "asset_id": None}


def text(composable: sql.Composable) -> str:
    return composable.as_string(None)


# -- the fingerprint rule -------------------------------------------------------------------------
def test_tenant_less_fingerprints_are_unchanged() -> None:
    fp = Fingerprinter()
    # The value pinned before tenants existed (test_fingerprint.py): existing alerts keep their ids.
    assert fp("x", VALUES) == fp("x", VALUES, None) == "634e40b6391d235c5e5e7526e79fc21d"


def test_the_same_problem_of_two_tenants_is_two_alerts() -> None:
    fp = Fingerprinter()
    none, a, b = fp("x", VALUES), fp("x", VALUES, "acme"), fp("x", VALUES, "globex")
    assert len({none, a, b}) == 3 and fp("x", VALUES, "acme") == a and len(a) == 32
    # Configured fields cannot make a tenant-less event collide with a tenant's.
    assert fp("x", {**VALUES, "resource": "r\x1ftenant='acme'"}) != a


def test_normalize_carries_the_tenant_into_event_and_alert() -> None:
    shared = NORMALIZER.normalize(observation(), 0, 0)
    acme = NORMALIZER.normalize(observation().model_copy(update={"tenant": "acme"}), 0, 1)
    assert shared.tenant is None and acme.tenant == "acme"
    assert shared.fingerprint != acme.fingerprint
    assert shared.fingerprint == NORMALIZER.fingerprint("nms", shared.model_dump(), None)
    opened = fold(None, [acme], LIFECYCLE)
    assert opened.state is not None and opened.state.tenant == "acme"
    assert opened.state.alert_id == alert_id_for(acme.fingerprint)
    # A later event of the alert keeps its tenant.
    later = NORMALIZER.normalize(observation(severity="ok").model_copy(update={"tenant": "acme"}), 0, 2)
    assert fold(opened.tracked, [later], LIFECYCLE).state.tenant == "acme"


def test_events_and_alert_states_written_before_tenants_still_parse() -> None:
    ev = NORMALIZER.normalize(observation(), 0, 0).model_dump(mode="json")
    del ev["tenant"]
    assert Event.model_validate(ev).tenant is None
    state = fold(None, [NORMALIZER.normalize(observation(), 0, 0)], LIFECYCLE).state.model_dump(mode="json")
    del state["tenant"]
    assert AlertState.model_validate(state).tenant is None


def test_read_models_get_the_tenant_column() -> None:
    ev = NORMALIZER.normalize(observation().model_copy(update={"tenant": "acme"}), 0, 0)
    assert EventsProjection.row(ev)[EVENT_COLUMNS.index("tenant")] == "acme"
    change = fold(None, [ev], LIFECYCLE).change()
    [(upsert, row)] = [r for r in AlertsProjection(POLICY).change_rows(change) if r[0].table == "alerts"]
    assert row[ALERT_COLUMNS.index("tenant")] == "acme" and len(row) == len(upsert.columns)


# -- assets ---------------------------------------------------------------------------------------
def test_an_asset_gets_its_tenant_at_creation_and_discovery_keeps_to_its_tenant() -> None:
    rtr = asset_id_for("device:core-rtr-1")
    create = Command(
        name="asset.create",
        target=rtr,
        actor="ops",
        args={"name": "rtr", "type": "router", "natural_key": "device:core-rtr-1", "tenant": "acme"},
        occurred_at=T0,
    )
    created = apply_command(None, create, "commands:0", 0).change
    assert created is not None and created.asset.tenant == "acme"
    [row] = [r for u, r in AssetsProjection().rows(created) if u.table == "assets"]
    assert row[ASSET_COLUMNS.index("tenant")] == "acme"

    def discovery(tenant: str | None, seconds: int) -> Observation:
        facts = {"natural_key": "device:core-rtr-1", "name": "core-rtr-1", "vendor": f"v{seconds}"}
        return Observation(
            source="nms",
            asset_id=rtr,
            tenant=tenant,
            occurred_at=T0 + timedelta(seconds=seconds),
            body={"kind": "discovery", "facts": facts},
        )

    state = created.asset
    other = apply_discovery(state, discovery("globex", 1), "raw:0", 1, 0)
    assert other.change is None and "tenant 'globex'" in other.refused
    own = apply_discovery(state, discovery("acme", 2), "raw:0", 2, 0).change
    assert own is not None and own.asset.tenant == "acme" and own.asset.vendor == "v2"
    # A discovery of no tenant (an untenanted collector) may update it; the tenant stays.
    shared = apply_discovery(own.asset, discovery(None, 3), "raw:0", 3, 0).change
    assert shared is not None and shared.asset.tenant == "acme"
    # A tenant's discovery of a new asset creates it for that tenant.
    fresh = apply_discovery(None, discovery("globex", 4), "raw:0", 4, 0).change
    assert fresh is not None and fresh.asset.tenant == "globex"


# -- the API's condition builder ------------------------------------------------------------------
def test_owned_is_the_one_tenant_condition() -> None:
    assert tenancy.owned(None) is None
    cond, args = tenancy.owned("acme")
    assert text(cond) == '"tenant" = %s' and args == ["acme"]
    cond, args = tenancy.owned("acme", "a")
    assert text(cond) == '"a"."tenant" = %s' and args == ["acme"]
    assert [text(c) for c in tenancy.visible(None)[0:1]] == ["TRUE"] and tenancy.visible(None)[1] == []
    where, args = tenancy.scoped("acme", [sql.SQL("x = %s")], [1])
    assert [text(w) for w in where] == ["x = %s", '"tenant" = %s'] and args == [1, "acme"]
    assert tenancy.scoped(None, [sql.SQL("x = %s")], [1])[1] == [1]


def test_asset_conditions_for_rows_that_only_name_an_asset() -> None:
    assert tenancy.of_owned_asset(None, sql.SQL("s.asset_id")) is None
    cond, args = tenancy.of_owned_asset("acme", sql.SQL("s.asset_id"))
    assert "EXISTS (SELECT 1 FROM assets o WHERE o.asset_id = s.asset_id" in text(cond) and args == ["acme"]
    assert text(tenancy.asset_visible(None, sql.SQL("d.target_id"))[0]) == "TRUE"
    cond, args = tenancy.asset_visible("acme", sql.SQL("d.target_id"))
    # Unknown assets stay visible; a known asset of another tenant or of none (NULL) does not.
    assert text(cond).startswith("NOT EXISTS") and "IS DISTINCT FROM %s" in text(cond) and args == ["acme"]


class _Principal:
    def __init__(self, tenant: str | None) -> None:
        self.tenant = tenant


class _Call:
    def __init__(self, principal: object) -> None:
        self.principal = principal


def test_tenant_of_and_what_a_write_records() -> None:
    assert tenancy.tenant_of(_Call(_Principal("acme"))) == "acme"
    assert tenancy.tenant_of(_Call(_Principal(None))) is None
    assert tenancy.tenant_of(_Call(None)) is None
    assert tenancy.tenant_to_record(None, None) is None
    assert tenancy.tenant_to_record(None, "globex") == "globex"  # unbound: any tenant, or none
    assert tenancy.tenant_to_record("acme", None) == "acme"  # bound: stamped
    assert tenancy.tenant_to_record("acme", "acme") == "acme"
    with pytest.raises(ApiError) as exc:
        tenancy.tenant_to_record("acme", "globex", "customer")
    assert exc.value.status == 403 and "customer 'globex'" in exc.value.reason


class _Caller:
    """What `stamp` reads of a call: the principal's tenant and its actor."""

    def __init__(self, tenant: str | None) -> None:
        self.principal = Principal("olga", "user", "operator", frozenset(), tenant)
        self.actor = self.principal.actor


def test_stamp_refuses_the_whole_batch_before_anything_is_appended() -> None:
    items = [
        {"source": "s", "severity": "critical", "event": "e"},
        {"source": "s", "severity": "ok", "event": "e"},
    ]
    obs = parse_observations(items, set(POLICY.order))
    stamped = tenancy.stamp(_Caller("acme"), obs)
    assert [o.tenant for o in stamped] == ["acme", "acme"] and [o.tenant for o in obs] == [None, None]
    assert [o.submitted_by for o in stamped] == ["olga", "olga"]  # the caller, never the client
    assert [o.event_id for o in stamped] == [o.event_id for o in obs]
    named = parse_observations([{**items[0], "tenant": "globex"}, items[1]], set(POLICY.order))
    assert [o.tenant for o in tenancy.stamp(_Caller(None), named)] == ["globex", None]
    with pytest.raises(ApiError) as exc:
        tenancy.stamp(_Caller("acme"), named)
    assert exc.value.status == 403


def test_a_tenant_outside_the_accounts_rule_is_a_422_naming_it() -> None:
    with pytest.raises(ApiError) as exc:
        parse_observations(
            {"source": "s", "severity": "critical", "event": "e", "tenant": "Acme Corp"}, {"critical"}
        )
    assert exc.value.status == 422 and exc.value.errors[0]["field"] == "tenant"


# -- every read builder adds it -------------------------------------------------------------------
CATALOG = {
    "alert_id": Column("text", False),
    "status": Column("text", False),
    "severity": Column("text", False),
    "last_seen": Column("timestamp with time zone", False),
    "tenant": Column("text", True),
}


def test_alert_list_count_and_top_are_scoped() -> None:
    params = QueryParams("status=open")
    q = alert_query.build_list(params, CATALOG, "acme")
    assert '"tenant" = %s' in text(q.select) and '"tenant" = %s' in text(q.where)
    assert q.args[: len(q.where_args)] == q.where_args and "acme" in q.where_args
    assert '"tenant"' not in text(alert_query.build_list(params, CATALOG).select)
    for by in ("duplicates", "standing", "flapping"):
        select, args = alert_query.top_sql(QueryParams(f"by={by}"), CATALOG, "acme")
        assert '"tenant" = %s' in text(select) and "acme" in args, by
    # Flapping with a tenant filters before ranking (the top n of everyone would leave the tenant's out).
    select, _ = alert_query.top_sql(QueryParams("by=flapping"), CATALOG, "acme")
    assert "GROUP BY alert_id ORDER BY" not in text(select)
    assert "GROUP BY alert_id ORDER BY" in text(alert_query.top_sql(QueryParams("by=flapping"), CATALOG)[0])


def test_event_and_asset_lists_and_counts_are_scoped() -> None:
    q = queries.build_list(queries.EVENTS, QueryParams("severity=critical"), sql.SQL("*"), "acme")
    assert '"tenant" = %s' in text(q.select) and '"tenant" = %s' in text(q.count)
    assert "acme" in q.params and "acme" in q.count_params
    q = queries.build_list(queries.EVENTS, QueryParams("tenant=globex"), sql.SQL("*"))
    assert q.count_params == [["globex"]]  # an unbound caller may filter by tenant


def test_metric_series_are_those_of_the_tenants_assets() -> None:
    _, q = series.series_query("r1", "m", {}, T0 - timedelta(hours=1), T0, None, "acme")
    assert "FROM assets o WHERE o.asset_id = s.asset_id" in text(q.text) and "acme" in q.params
    _, q = series.top_query("m", {}, T0 - timedelta(hours=1), T0, 5, "avg", "acme")
    assert "FROM assets o" in text(q.text) and q.params[-1] == 5 and "acme" in q.params
    _, q = series.series_query("r1", "m", {}, T0 - timedelta(hours=1), T0, None)
    assert "FROM assets o" not in text(q.text)


# -- Alerta's customer ----------------------------------------------------------------------------
def test_alertas_customer_is_the_tenant() -> None:
    obs = alerta.translate({"resource": "r", "event": "e", "customer": "acme"}, SEVERITIES)
    assert obs.tenant == "acme" and "customer" not in obs.body.attributes["alerta"]
    with pytest.raises(FormatError) as exc:
        alerta.translate({"resource": "r", "event": "e", "customer": "Acme Corp"}, SEVERITIES)
    assert exc.value.errors[0]["field"] == "customer"
    event = NORMALIZER.normalize(obs, 0, 0)
    view = alerta.reply(None, event, LIFECYCLE, "http://x/api/alert/1", T0)
    assert view["customer"] == "acme"
    hb = alerta.translate_heartbeat({"origin": "o", "customer": "acme"})
    assert hb.tenant == "acme" and alerta.heartbeat_view(hb, "h", T0)["customer"] == "acme"
