from ems.agents.fingerprint import Fingerprinter


def test_same_fields_same_fingerprint_regardless_of_other_fields() -> None:
    fp = Fingerprinter()
    a = fp(
        "nms", {"environment": "prod", "resource": "r1", "event": "NodeDown", "asset_id": "a", "title": "x"}
    )
    b = fp(
        "nms", {"environment": "prod", "resource": "r1", "event": "NodeDown", "asset_id": "a", "title": "y"}
    )
    assert a == b and len(a) == 32


def test_any_identifying_field_changes_it() -> None:
    fp = Fingerprinter()
    base = {"environment": "prod", "resource": "r1", "event": "NodeDown", "asset_id": "a"}
    others = {fp("nms", {**base, k: "other"}) for k in base}
    assert fp("nms", base) not in others and len(others) == 4


def test_fields_are_configurable_per_source_with_dotted_attributes() -> None:
    fp = Fingerprinter({"apm": ["resource", "attributes.endpoint"]})
    a = fp("apm", {"resource": "api", "attributes": {"endpoint": "/pay"}, "event": "Slow"})
    b = fp("apm", {"resource": "api", "attributes": {"endpoint": "/pay"}, "event": "Other"})
    c = fp("apm", {"resource": "api", "attributes": {"endpoint": "/login"}, "event": "Slow"})
    assert a == b != c
    assert fp.fields_for("nms") == ("environment", "resource", "event", "asset_id")


def test_known_value_is_stable_across_processes() -> None:
    # A change to the hash input format would silently split every open alert: pin one value.
    values = {"environment": "production", "resource": "r", "event": "e", "asset_id": None}
    assert Fingerprinter()("x", values) == "634e40b6391d235c5e5e7526e79fc21d"
