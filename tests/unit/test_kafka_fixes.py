"""aiokafka fix 3 (streams/faust_fixes.py): a failed metadata update waits before it is retried."""

from __future__ import annotations

import time

from aiokafka.client import AIOKafkaClient

from ems.streams.faust_fixes import install_aiokafka_fixes


async def test_a_failed_metadata_update_waits_the_retry_backoff() -> None:
    install_aiokafka_fixes()
    install_aiokafka_fixes()  # idempotent: one wait, not two
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1", retry_backoff_ms=300)
    started = time.monotonic()
    assert await client._metadata_update(client.cluster, []) is False
    assert 0.3 <= time.monotonic() - started < 0.6
    await client.close()
