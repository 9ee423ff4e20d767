"""Password hashing (argon2id) and the password policy.

Hashes are argon2id strings (argon2-cffi's `PasswordHasher`), which carry their own parameters: a
hash made with other parameters than the configured ones still verifies and is rehashed at the next
good login (`needs_rehash`). Hashing is slow on purpose (tens of ms, tens of MiB): callers run it in a
thread and bound how many run at once. A login for an unknown name verifies the password against a
dummy hash, so it costs as much as one for a known name and the answer time does not tell them apart.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ems.api.security.errors import Invalid

MAX_LENGTH = 1024  # argon2 takes any length; this bounds the work one request can ask for


def check_policy(password: str, min_length: int, name: str | None = None) -> None:
    """Raise `Invalid` unless `password` is acceptable: `min_length`..1024 characters, not blank,
    not the user's own name."""
    if not isinstance(password, str):
        raise Invalid("password must be a string")
    if len(password) < min_length:
        raise Invalid(f"password must have at least {min_length} characters")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"password must have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise Invalid("password must not be blank")
    if name is not None and password.strip().lower() == name.lower():
        raise Invalid("password must not be the user name")


def random_password() -> str:
    """A password to print once: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


class Passwords:
    """argon2id hashing with the configured cost parameters."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with `stored` None (unknown user) a dummy hash is
        checked instead, at the same cost, and the answer is False."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
            self._check(self._dummy, password)
            return False
        return self._check(stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with other parameters than the configured ones."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
