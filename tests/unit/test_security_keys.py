"""API key format (api/security/keys.py), roles and permissions (principal.py), names and scopes."""

from __future__ import annotations

import hashlib

import pytest

from ems.api.security.accounts import check_role, check_scopes, check_tenant, check_user_name
from ems.api.security.errors import Invalid
from ems.api.security.keys import check_key_name, hash_secret, new_key, parse_key, secret_matches
from ems.api.security.principal import PERMISSIONS, ROLE_PERMISSIONS, Principal


def test_a_new_key_parses_back_to_its_id_and_secret() -> None:
    keys = [new_key() for _ in range(200)]
    for key_id, secret, plaintext in keys:
        assert plaintext == f"ems_{key_id}_{secret}"
        parsed = parse_key(plaintext)
        assert parsed is not None and (parsed.key_id, parsed.secret) == (key_id, secret)
        assert len(secret) >= 43  # 32 random bytes
    assert len({k[0] for k in keys}) == len(keys)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ems_",
        "ems_0123456789abcdef",
        "ems_0123456789abcdef_",
        "ems_0123456789abcdef_short",
        "ems_0123456789ABCDEF_" + "a" * 43,  # ids are lower-case hex
        "ems_0123456789abcde_" + "a" * 43,
        "xyz_0123456789abcdef_" + "a" * 43,
        "ems_0123456789abcdef_" + "a" * 42 + "!",
        "eyJhbGciOiJIUzI1NiJ9.e30.abc",
    ],
)
def test_text_not_of_the_key_form_does_not_parse(text: str) -> None:
    assert parse_key(text) is None


def test_the_stored_hash_is_sha256_and_compares_exactly() -> None:
    _, secret, _ = new_key()
    stored = hash_secret(secret)
    assert stored == hashlib.sha256(secret.encode()).hexdigest() and secret not in stored
    assert secret_matches(secret, stored)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored)


def test_key_names() -> None:
    assert check_key_name("prometheus-am") is None and check_key_name("ci:deploy@prod") is None
    for bad in ("", "-x", "a b", "x" * 101, "naïve"):
        assert check_key_name(bad), bad


def test_roles_grant_what_the_issue_says() -> None:
    admin, operator, viewer = (
        Principal(r, "user", r, ROLE_PERMISSIONS[r], None) for r in ("admin", "operator", "viewer")
    )
    assert all(admin.allows(p) for p in PERMISSIONS) and admin.allows("anything:new")
    reads = {
        "read:alerts",
        "read:assets",
        "read:metrics",
        "read:incidents",
        "read:tickets",
        "read:suppressions",
        "read:checks",
        "read:health",
    }
    assert {p for p in PERMISSIONS if viewer.allows(p)} == reads
    assert {p for p in PERMISSIONS if operator.allows(p)} == reads | {
        "write:alerts",
        "write:incidents",
        "write:tickets",
        "write:suppressions",
        "write:checks",
    }
    for p in ("write:assets", "write:observations", "admin"):
        assert not operator.allows(p) and not viewer.allows(p)
    assert all(perms <= PERMISSIONS for perms in ROLE_PERMISSIONS.values())


def test_a_key_principal_has_its_scopes_and_a_key_actor() -> None:
    key = Principal("alertmanager", "key", None, frozenset({"write:observations"}), "acme", key_id="ab" * 8)
    assert key.allows("write:observations") and not key.allows("read:alerts")
    assert key.actor == "key:alertmanager"
    assert Principal("alice", "user", "viewer", frozenset(), None).actor == "alice"
    assert Principal("root-key", "key", None, frozenset({"admin"}), None).allows("write:assets")


def test_names_roles_tenants_and_scopes_are_checked() -> None:
    assert check_user_name("  Alice.Smith@Corp ") == "alice.smith@corp"
    for bad in ("", " ", "-alice", "a b", "x" * 65, "al/ice"):
        with pytest.raises(Invalid, match="user name"):
            check_user_name(bad)
    with pytest.raises(Invalid, match="unknown role 'root'; roles: admin, operator, viewer"):
        check_role("root")
    with pytest.raises(Invalid, match="tenant"):
        check_tenant("a b")
    assert check_tenant(None) is None
    assert check_scopes(["read:alerts", "write:observations", "read:alerts"]) == [
        "read:alerts",
        "write:observations",
    ]
    with pytest.raises(Invalid, match="unknown scope\\(s\\): read:everything, write:all"):
        check_scopes(["read:alerts", "write:all", "read:everything"])
    with pytest.raises(Invalid, match="at least one scope"):
        check_scopes([])
