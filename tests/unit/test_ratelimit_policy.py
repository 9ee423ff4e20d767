"""Which limit and which key a request gets: principal, key's own limit, route, role, address."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ems.api.ratelimit import Limit
from ems.api.ratepolicy import Quota, RatePolicy, address_key
from ems.settings import Settings


@dataclass(frozen=True)
class Caller:
    """The attributes the policy reads from the API's principal."""

    name: str
    kind: str = "user"
    role: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class OwnLimitKey(Caller):
    rate_limit_per_minute: int | None = None
    rate_limit_burst: int | None = None


SETTINGS = Settings(
    rate_limit_routes={"POST /api/v1/events": 12000},
    rate_limit_roles={"ops": 600},
    rate_limit_user_per_minute=100,
    rate_limit_per_minute=6000,
    rate_limit_anonymous_per_minute=30,
)
POLICY = RatePolicy(SETTINGS)
ALERTS = "GET /api/v1/alerts"


def test_users_and_keys_get_their_kind_s_default_under_their_own_name() -> None:
    assert POLICY.resolve(Caller("alice"), ALERTS, "192.0.2.9") == Quota("user:alice", Limit(100))
    collector = Caller("snmp-east", kind="key", key_id="k_81f2")
    assert POLICY.resolve(collector, ALERTS, "192.0.2.9") == Quota("key:k_81f2", Limit(6000))
    assert POLICY.resolve(Caller("legacy", kind="key"), ALERTS, "-").key == "key:legacy"


def test_the_client_address_never_names_an_authenticated_caller() -> None:
    assert POLICY.resolve(Caller("alice"), ALERTS, "198.51.100.1") == POLICY.resolve(
        Caller("alice"), ALERTS, "203.0.113.7"
    )


def test_a_role_entry_replaces_the_kind_default() -> None:
    assert POLICY.resolve(Caller("bob", role="ops"), ALERTS, "-") == Quota("user:bob", Limit(600))
    assert POLICY.resolve(Caller("eve", role="viewer"), ALERTS, "-").limit == Limit(100)


def test_a_route_entry_has_its_own_budget_per_caller() -> None:
    quota = POLICY.resolve(Caller("bob", role="ops"), "POST /api/v1/events", "-")
    assert quota == Quota("route:POST /api/v1/events|user:bob", Limit(12000))


def test_a_key_s_own_limit_wins_over_everything() -> None:
    big = OwnLimitKey("bulk", kind="key", key_id="k_1", rate_limit_per_minute=50_000, rate_limit_burst=5000)
    assert POLICY.resolve(big, ALERTS, "-") == Quota("key:k_1", Limit(50_000, 5000))
    assert POLICY.resolve(big, "POST /api/v1/events", "-").limit == Limit(50_000, 5000)
    unset = OwnLimitKey("plain", kind="key", key_id="k_2")
    assert POLICY.resolve(unset, ALERTS, "-").limit == Limit(6000)


def test_requests_without_credentials_are_limited_per_address_and_login_hardest() -> None:
    assert POLICY.resolve(None, "GET /openapi.json", "192.0.2.9") == Quota("addr:192.0.2.9", Limit(30))
    login = POLICY.resolve(None, "POST /api/v1/auth/login", "192.0.2.9")
    assert login == Quota("route:POST /api/v1/auth/login|addr:192.0.2.9", Limit(10))


def test_the_login_limit_is_built_in_and_can_be_changed() -> None:
    assert RatePolicy(Settings()).resolve(None, "POST /api/v1/auth/login", "x").limit == Limit(10)
    changed = Settings(rate_limit_routes={"POST /api/v1/auth/login": 3})
    assert RatePolicy(changed).resolve(None, "POST /api/v1/auth/login", "x").limit == Limit(3)


@pytest.mark.parametrize(
    ("client", "key"),
    [
        ("192.0.2.9", "addr:192.0.2.9"),
        ("2001:db8:1:2:aaaa::1", "addr:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "addr:2001:db8:1:2::/64"),  # the same host network, one budget
        ("::ffff:192.0.2.9", "addr:192.0.2.9"),
        ("fe80::1%eth0", "addr:fe80::/64"),
        ("", "addr:unknown"),
        ("testclient", "addr:testclient"),
    ],
)
def test_addresses_key_ipv4_by_host_and_ipv6_by_slash_64(client: str, key: str) -> None:
    assert address_key(client) == key


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"rate_limit_routes": {"/api/v1/events": 5}}, "is not 'METHOD /path'"),
        ({"rate_limit_routes": {"POST /api/v1/events": 0}}, "is not a per-minute limit"),
        ({"rate_limit_roles": {"ops": -1}}, "is not a per-minute limit"),
        ({"rate_limit_user_per_minute": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_limit_settings_are_refused_naming_the_entry(env: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**env)
