"""Keys verified lately (api/security/recent_keys.py): what is accepted while PostgreSQL is away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.api.security.errors import Unauthorized
from ems.api.security.keys import hash_secret, new_key, parse_key
from ems.api.security.principal import Principal
from ems.api.security.recent_keys import RecentKeys, Verified

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def key(name: str = "collector", expires_at: datetime | None = None, at: float = 100.0):
    key_id, secret, text = new_key()
    principal = Principal(name, "key", None, frozenset({"write:observations"}), None, key_id)
    parsed = parse_key(text)
    assert parsed is not None
    return parsed, Verified(hash_secret(secret), principal, expires_at, at)


def test_a_key_verified_within_the_grace_is_its_principal_after_it_none() -> None:
    recent = RecentKeys(grace=300)
    parsed, entry = key()
    assert recent.principal(parsed, 150.0, NOW) is None  # never verified: PostgreSQL must decide
    assert not recent.knows(parsed.key_id, 150.0)
    recent.remember(parsed.key_id, entry)
    assert recent.knows(parsed.key_id, 400.0) and recent.principal(parsed, 400.0, NOW) is entry.principal
    assert not recent.knows(parsed.key_id, 400.1) and recent.principal(parsed, 400.1, NOW) is None


def test_a_wrong_secret_or_an_expired_key_is_refused_and_a_forgotten_key_unknown() -> None:
    recent = RecentKeys()
    parsed, entry = key(expires_at=NOW + timedelta(seconds=1))
    recent.remember(parsed.key_id, entry)
    other = parse_key(f"ems_{parsed.key_id}_{new_key()[1]}")
    assert other is not None
    with pytest.raises(Unauthorized, match="invalid API key"):
        recent.principal(other, 101.0, NOW)
    assert recent.principal(parsed, 101.0, NOW) is entry.principal
    with pytest.raises(Unauthorized, match="API key expired"):
        recent.principal(parsed, 101.0, NOW + timedelta(seconds=1))
    recent.forget(parsed.key_id)
    assert recent.principal(parsed, 101.0, NOW) is None


def test_the_least_recently_verified_key_goes_first_when_full() -> None:
    recent = RecentKeys(size=2)
    (a, ea), (b, eb), (c, ec) = key("a"), key("b"), key("c")
    recent.remember(a.key_id, ea)
    recent.remember(b.key_id, eb)
    recent.remember(a.key_id, ea)  # verified again: now the most recent
    recent.remember(c.key_id, ec)
    assert recent.principal(b, 101.0, NOW) is None
    assert recent.principal(a, 101.0, NOW) is ea.principal and recent.principal(c, 101.0, NOW) is ec.principal
