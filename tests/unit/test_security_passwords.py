"""Password policy and argon2id hashing (api/security/passwords.py)."""

from __future__ import annotations

import time

import pytest

from ems.api.security.errors import Invalid
from ems.api.security.passwords import MAX_LENGTH, Passwords, check_policy, random_password

FAST = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12 characters"),
        ("a" * 11, "at least 12 characters"),
        ("x" * (MAX_LENGTH + 1), "at most 1024 characters"),
        (" " * 20, "must not be blank"),
        ("  Alice-Admin  ", "must not be the user name"),
    ],
)
def test_the_policy_refuses_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason) as info:
        check_policy(password, 12, "alice-admin")
    assert info.value.status == 400


def test_the_policy_accepts_and_is_configurable() -> None:
    check_policy("a" * 12, 12, "alice")
    check_policy("x" * MAX_LENGTH, 12, "alice")
    check_policy("é" * 12, 12)  # characters, not bytes
    with pytest.raises(Invalid, match="at least 16"):
        check_policy("a" * 15, 16)
    check_policy(random_password(), 12)
    assert len({random_password() for _ in range(50)}) == 50


def test_hash_verify_and_wrong_passwords() -> None:
    p = Passwords(**FAST)
    stored = p.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert p.verify(stored, "correct horse battery")
    assert not p.verify(stored, "correct horse batterY")
    assert not p.verify("not a hash", "correct horse battery")
    assert p.hash("same") != p.hash("same")  # salted


def test_an_unknown_user_costs_a_verification_and_fails() -> None:
    p = Passwords(time_cost=3, memory_cost=8192, parallelism=1)
    stored = p.hash("correct horse battery")
    assert not p.verify(None, "correct horse battery")

    def best(stored_hash: str | None) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            p.verify(stored_hash, "wrong password guess")
            times.append(time.perf_counter() - start)
        return min(times)

    # the dummy path does the same argon2 work (without it, it would take microseconds)
    assert best(None) > 0.5 * best(stored)


def test_a_hash_with_other_parameters_needs_rehash_and_still_verifies() -> None:
    old = Passwords(time_cost=1, memory_cost=64, parallelism=1)
    new = Passwords(time_cost=2, memory_cost=128, parallelism=1)
    stored = old.hash("correct horse battery")
    assert not old.needs_rehash(stored)
    assert new.needs_rehash(stored) and new.verify(stored, "correct horse battery")
    assert not new.needs_rehash(new.hash("correct horse battery"))
    assert new.needs_rehash("garbage")
