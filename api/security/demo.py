"""Credentials for `ems demo`: an admin to log in with and a key to ingest with, printed by the demo.

Secrets are stored only as hashes, so existing ones cannot be shown again: on every run the demo
admin gets a fresh random password and a fresh ingest key is made (the previous demo keys are revoked).
"""

from __future__ import annotations

from ems.api.security.accounts import Accounts
from ems.api.security.errors import Conflict, NotFound
from ems.api.security.passwords import random_password

DEMO_ADMIN = "demo-admin"
DEMO_KEY = "demo-ingest"
ACTOR = "demo"


async def ensure_demo_credentials(authenticator: Accounts) -> tuple[str, str, str]:
    """(user name, password, ingest key with scope write:observations); see the module docstring."""
    password = random_password()
    try:
        await authenticator.get_user(DEMO_ADMIN)
    except NotFound:
        try:
            await authenticator.create_user(DEMO_ADMIN, password, "admin", actor=ACTOR)
        except Conflict:  # made meanwhile by another demo process: take it over below
            pass
        else:
            return DEMO_ADMIN, password, await _fresh_key(authenticator)
    await authenticator.update_user(
        DEMO_ADMIN, password=password, role="admin", disabled=False, tenant=None, actor=ACTOR
    )
    return DEMO_ADMIN, password, await _fresh_key(authenticator)


async def _fresh_key(authenticator: Accounts) -> str:
    for old in await authenticator.list_keys(DEMO_KEY):
        if old.revoked_at is None:
            await authenticator.revoke_key(old.key_id, actor=ACTOR)
    _, plaintext = await authenticator.create_key(DEMO_KEY, ["write:observations"], actor=ACTOR)
    return plaintext
