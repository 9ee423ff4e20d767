import pytest

from ems.api.errors import ApiError
from ems.api.ingest import MAX_ITEMS
from tests.unit.helpers import parse_observations

SEVERITIES = {"critical", "warning", "ok"}


def test_seed_shape_is_accepted() -> None:
    [obs] = parse_observations(
        {
            "source": "nms",
            "severity": "Critical",
            "title": "Device Unreachable",
            "assetId": "ast_router_01",
            "metadata": {"retries": 3},
        },
        SEVERITIES,
    )
    assert obs.asset_id == "ast_router_01" and obs.body.severity == "critical"
    assert obs.body.event == "Device Unreachable" and obs.body.attributes == {"retries": 3}


def test_full_observation_of_another_kind_is_accepted() -> None:
    [obs] = parse_observations(
        {
            "source": "nms",
            "asset_id": "a",
            "body": {"kind": "metrics", "samples": [{"name": "cpu", "value": 0.5}]},
        },
        SEVERITIES,
    )
    assert obs.body.kind == "metrics"


def test_every_bad_field_of_every_item_is_reported() -> None:
    with pytest.raises(ApiError) as err:
        parse_observations(
            [
                {"source": "nms", "severity": "critical", "title": "ok"},
                {"source": "", "severity": 5, "title": "x", "colour": "red"},
                {"source": "nms", "severity": "apocalyptic", "title": "x"},
                "nonsense",
            ],
            SEVERITIES,
        )
    fields = [e["field"] for e in err.value.errors]
    assert err.value.status == 422
    assert fields == ["[1].source", "[1].severity", "[1].colour", "[2].severity", "[3]"]
    assert "unknown severity 'apocalyptic'" in err.value.errors[3]["message"]


def test_event_needs_a_name() -> None:
    with pytest.raises(ApiError) as err:
        parse_observations({"source": "nms", "severity": "ok"}, SEVERITIES)
    assert err.value.errors == [{"field": "(body)", "message": "either event or title is required"}]


def test_too_many_items_is_413() -> None:
    item = {"source": "nms", "severity": "ok", "title": "x"}
    with pytest.raises(ApiError) as err:
        parse_observations([item] * (MAX_ITEMS + 1), SEVERITIES)
    assert err.value.status == 413


def test_a_title_too_long_to_be_the_event_name_is_refused_on_the_name() -> None:
    with pytest.raises(ApiError) as err:
        parse_observations([{"source": "nms", "severity": "ok", "title": "t" * 300}], SEVERITIES)
    [error] = err.value.errors
    assert error["field"] == "[0].event" and "at most 256 characters" in error["message"]
    [obs] = parse_observations([{"source": "nms", "severity": "ok", "title": "t" * 256}], SEVERITIES)
    assert obs.body.event == "t" * 256
