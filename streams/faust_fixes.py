"""Fixes for faust-streaming 0.15.3 / aiokafka 0.14 that the pipeline needs on every broker.

Install them with `install_faust_fixes(app)` before the worker starts (`ems.streams.app` does).

1. Faust's recovery resumes the stream partitions, seeks them to the committed offsets, then calls
   `flow_control.resume()`, which clears every stream queue. Records fetched in between are dropped
   while the consumer position has moved past them (faust-streaming #596): the worker never
   processes them, and may commit past them. `resume()` no longer clears the queues when flow was
   not suspended (a rebalance suspends and clears them itself). `StreamGuard` stays as the net.
2. aiokafka skips LeaveGroup in generation 0, which is Tansu's first generation: a stopped member
   then blocks the next worker's join until its session expires. Kafka starts at generation 1, so
   the patch changes nothing there.
3. aiokafka retries a failed metadata update with no pause: while the broker is down, a producer
   with an undelivered batch asked for metadata ~5,000 times a second (and logged each failure).
   A failed update now waits the client's `retry_backoff_ms` before it reports the failure
   (`install_aiokafka_fixes`, applied by `ems.streams.kafka` for every client of the process).
"""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any

log = logging.getLogger(__name__)


async def _leave_group_from_generation_zero(self: Any) -> None:
    """aiokafka's ``GroupCoordinator._maybe_leave_group`` without the ``generation > 0`` guard."""
    from aiokafka.errors import KafkaError
    from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

    if self.member_id != JoinGroupRequest.UNKNOWN_MEMBER_ID and self._group_instance_id is None:
        try:
            await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
        except KafkaError as err:
            log.warning("LeaveGroup request failed: %s", err)
    self.reset_generation()


def install_aiokafka_fixes() -> None:
    """Fix 3 (see the module docstring); idempotent."""
    from aiokafka.client import AIOKafkaClient

    original = AIOKafkaClient._metadata_update
    if getattr(original, "_ems_backoff", False):
        return

    async def metadata_update_with_backoff(self: Any, cluster_metadata: Any, topics: Any) -> bool:
        updated = await original(self, cluster_metadata, topics)
        if not updated:
            await asyncio.sleep(self._retry_backoff)
        return updated

    metadata_update_with_backoff._ems_backoff = True  # type: ignore[attr-defined]
    AIOKafkaClient._metadata_update = metadata_update_with_backoff  # type: ignore[method-assign]


def install_faust_fixes(app: Any) -> None:
    """Apply both fixes (see the module docstring) to `app` and to aiokafka."""
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    GroupCoordinator._maybe_leave_group = _leave_group_from_generation_zero  # type: ignore[method-assign]

    flow_control = app.flow_control
    original_resume = type(flow_control).resume

    def resume(self: Any) -> None:
        if self.is_active():
            return
        original_resume(self)

    flow_control.resume = types.MethodType(resume, flow_control)
