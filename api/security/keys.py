"""API keys: `ems_<key_id>_<secret>`, shown once, stored as the SHA-256 of the secret.

The key id (16 hex digits) finds the row; the secret (`secrets.token_urlsafe(32)`: 256 random bits)
proves possession. A secret of that entropy cannot be guessed or brute-forced from its hash, so a
fast hash is enough: a slow password hash (argon2) exists to protect low-entropy human passwords,
and would only make every keyed request slow. The hashes are compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "ems_"
_KEY = re.compile(r"^ems_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key_id, secret, plaintext `ems_<key_id>_<secret>`)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}{key_id}_{secret}"


def parse_key(text: str) -> ParsedKey | None:
    """The key id and secret of a presented key, or None when the text is not of our form."""
    match = _KEY.match(text.strip())
    return ParsedKey(match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    """What the database keeps of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether `secret` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def check_key_name(name: str) -> str | None:
    """Why `name` cannot name a key (None when it can)."""
    if not _NAME.match(name):
        return "key name must be 1-100 characters: letters, digits and . _ : @ - (not first)"
    return None
