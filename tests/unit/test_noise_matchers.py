"""Alertmanager-style matchers: operators, anchored regexes, list fields, attributes, the text form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ems.noise.matchers import Matcher, MatcherError, alert_fields, matches_all, parse_matchers
from ems.schemas.alert import AlertState

ALERT = {
    "alert_id": "a1",
    "resource": "web01",
    "event": "cpu_high",
    "environment": "production",
    "severity": "critical",
    "service": ["web", "checkout"],
    "tags": [],
    "attributes": {"region": "eu-west", "port": 443, "k8s.ns": "shop", "alerta": {"group": "Performance"}},
}


def test_equal_and_not_equal() -> None:
    assert Matcher("resource", "=", "web01").matches(ALERT)
    assert not Matcher("resource", "=", "web").matches(ALERT)
    assert Matcher("resource", "!=", "db01").matches(ALERT)
    assert not Matcher("resource", "!=", "web01").matches(ALERT)


def test_regexes_are_fully_anchored_like_alertmanager() -> None:
    assert Matcher("severity", "=~", "crit.*").matches(ALERT)
    assert not Matcher("severity", "=~", "crit").matches(ALERT)  # a prefix is not enough
    assert not Matcher("severity", "=~", "ritical").matches(ALERT)  # nor a suffix
    assert Matcher("severity", "=~", "major|critical").matches(ALERT)  # alternation is anchored as a whole
    assert not Matcher("severity", "=~", "major|crit").matches(ALERT)
    assert Matcher("severity", "!~", "warn.*").matches(ALERT)
    assert not Matcher("severity", "!~", "crit.*").matches(ALERT)


def test_an_invalid_regex_is_a_typed_error_naming_the_matcher() -> None:
    with pytest.raises(MatcherError) as caught:
        Matcher("service", "=~", "web(")
    assert caught.value.matcher == 'service=~"web("'
    assert "invalid regular expression" in str(caught.value)


def test_unknown_fields_and_operators_are_refused() -> None:
    with pytest.raises(MatcherError, match="unknown field") as caught:
        Matcher("sevrity", "=", "critical")
    assert caught.value.matcher == 'sevrity="critical"'
    with pytest.raises(MatcherError, match="unknown operator"):
        Matcher("severity", "==", "critical")  # type: ignore[arg-type]


def test_list_fields_match_any_element_and_negations_need_none() -> None:
    assert Matcher("service", "=", "checkout").matches(ALERT)
    assert not Matcher("service", "!=", "checkout").matches(ALERT)
    assert Matcher("service", "!=", "billing").matches(ALERT)
    assert Matcher("service", "=~", "check.*").matches(ALERT)
    assert not Matcher("service", "!~", "web|checkout").matches(ALERT)
    # an empty list reads as "", like a missing Alertmanager label
    assert Matcher("tags", "=", "").matches(ALERT)
    assert not Matcher("tags", "=~", ".+").matches(ALERT)


def test_attributes_nested_dotted_and_non_text_values() -> None:
    assert Matcher("attributes.region", "=", "eu-west").matches(ALERT)
    assert Matcher("attributes.port", "=", "443").matches(ALERT)
    assert Matcher("attributes.k8s.ns", "=", "shop").matches(ALERT)  # a key with a dot in it
    assert Matcher("group", "=", "Performance").matches(ALERT)  # Alerta's group, kept under attributes
    assert Matcher("attributes.missing", "=", "").matches(ALERT)
    assert not Matcher("attributes.missing", "=~", ".+").matches(ALERT)


def test_all_matchers_must_match() -> None:
    both = (Matcher("service", "=", "web"), Matcher("severity", "=", "critical"))
    assert matches_all(both, ALERT)
    assert not matches_all((*both, Matcher("environment", "=", "staging")), ALERT)
    assert matches_all((), ALERT)


def test_parse_the_alertmanager_text_form() -> None:
    parsed = parse_matchers('{service="web", severity=~"crit.*", environment!="staging",}')
    assert [(m.name, m.op, m.value) for m in parsed] == [
        ("service", "=", "web"),
        ("severity", "=~", "crit.*"),
        ("environment", "!=", "staging"),
    ]
    assert matches_all(parsed, ALERT)
    bare = parse_matchers("resource=web01, attributes.region!~us-.*")
    assert [(m.name, m.op, m.value) for m in bare] == [
        ("resource", "=", "web01"),
        ("attributes.region", "!~", "us-.*"),
    ]
    escaped = parse_matchers(r'text="say \"hi\", then a \\ backslash"')
    assert escaped[0].value == 'say "hi", then a \\ backslash'
    assert parse_matchers("{}") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('service="web" severity="critical"', "character"),
        ('service="web', "character"),
        ('{service="web"', "closing"),
        ('severity=~"crit("', "invalid regular expression"),
        ('nosuchfield="x"', "unknown field"),
    ],
)
def test_bad_text_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=message):
        parse_matchers(text)


def test_alert_fields_read_an_alert_state_and_its_asset() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    state = AlertState(
        alert_id="a1", fingerprint="f1", status="open", severity="major", event_count=1,
        duplicate_count=0, first_seen=at, last_seen=at, last_event_id="e1", source="snmp",
        event="if_down", resource="sw1", environment="production", version=1, service=["net"],
    )  # fmt: skip
    fields = alert_fields(state, {"tags": ["core"], "site": "fra1"})
    assert matches_all(parse_matchers('service="net",asset.tags="core",asset.site=~"fra.*"'), fields)
    assert not Matcher("asset.site", "=", "ams1").matches(fields)
