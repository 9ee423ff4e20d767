"""Revocation notices: what lets an API process reuse a key it verified moments ago.

A keyed request looked its key up in PostgreSQL every time: with the transaction around it, three
round trips, a fifth of a single-alert post's cost. A revocation commits a `NOTIFY` on `CHANNEL`
(`store.revoke_key`, in the revoking transaction, so it is sent if and only if the revocation
commits), and every API process listens on its own connection. A key verified by a lookup that
started after the last notice, within `EMS_API_KEY_CACHE` seconds, is accepted again without one:

- a revocation anywhere reaches every process as soon as PostgreSQL delivers the notice (within
  milliseconds), and any notice makes every key be looked up again (revocations are rare);
- while the listening connection is down (PostgreSQL restarted, the network cut) nothing is reused:
  every request looks its key up, as before; a new connection counts as a notice (one may have been
  missed meanwhile);
- a key changed by hand in SQL, without the notice, is seen within `EMS_API_KEY_CACHE` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from ems.streams.failures import Backoff, describe

log = logging.getLogger(__name__)
CHANNEL = "ems_api_keys"


class KeyNotices:
    """Listens on `CHANNEL` (`run`) and says whether a verification may be reused (`reusable`)."""

    def __init__(self, url: str, ttl: float, retry_cap: float = 5.0) -> None:
        self.url, self.ttl, self.retry_cap = url, ttl, retry_cap
        self.live = False  # listening now
        self.changed_at = time.monotonic()  # the last notice or (re)connection, monotonic
        self.notices = 0
        self.backend_pid: int | None = None  # of the listening connection

    def reusable(self, verified_at: float, now: float) -> bool:
        """Whether a key verified by a lookup started at `verified_at` may be accepted at `now`
        without a new lookup (both monotonic)."""
        return self.live and verified_at > self.changed_at and now - verified_at <= self.ttl

    def notice(self) -> None:
        self.changed_at = time.monotonic()
        self.notices += 1

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff; nothing is reused while disconnected."""
        if self.ttl <= 0:
            return
        backoff = Backoff(cap=self.retry_cap)
        while True:
            try:
                await self._listen(backoff)
            except (psycopg.Error, OSError) as exc:
                self.live = False  # now, not in `finally`: that runs after the backoff's sleep
                delay = backoff.next_delay()
                log.warning(
                    "key revocation notices not received (%s); retrying in %.1f s", describe(exc), delay
                )
                await asyncio.sleep(delay)
            finally:
                self.live = False

    async def _listen(self, backoff: Backoff) -> None:
        # Keepalives: a connection cut without a reset is noticed within ~20 s, and reuse stops then
        # (`ttl` bounds what a dead connection could hide before that).
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=3,
            keepalives_count=3,
            application_name="ems-key-notices",
        )
        async with conn:
            self.backend_pid = conn.info.backend_pid
            await conn.execute(f"LISTEN {CHANNEL}")
            self.notice()  # notices sent while no one listened are lost: look every key up again
            self.live = True
            backoff.reset()
            async for _ in conn.notifies():
                self.notice()
        raise psycopg.OperationalError("the listening connection closed")
