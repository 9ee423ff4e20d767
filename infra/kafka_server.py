"""A real single-node Apache Kafka 4.x (KRaft, broker+controller) on loopback, for tests and benchmarks.

The broker jars come from Maven Central through ``infra/kafka/pom.xml`` (see ``infra/install.sh``);
:func:`ensure_kafka_libs` fetches them with ``mvn`` on first use if the install step was skipped.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from .process import ServerProcess, ServerStartError, free_port, port_open

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
KAFKA_VERSION = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text()).group(1)  # type: ignore[union-attr]
MARKER = ".complete"

LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def kafka_libs_dir(version: str = KAFKA_VERSION) -> Path:
    """``$EMS_KAFKA_LIBS``, else ``~/.cache/ems/kafka-<version>/libs`` (the same default as install.sh)."""
    env = os.environ.get("EMS_KAFKA_LIBS")
    return Path(env) if env else Path.home() / ".cache" / "ems" / f"kafka-{version}" / "libs"


def ensure_kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """Return the classpath dir, running ``mvn dependency:copy-dependencies`` if it is not complete."""
    libs = kafka_libs_dir(version)
    if (libs / MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServerStartError(f"Kafka jars missing in {libs} and no mvn on PATH: run infra/install.sh")
    libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="libs.", dir=libs.parent))
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ServerStartError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (tmp / MARKER).write_text(version + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    os.replace(tmp, libs)
    return libs


def _cluster_id() -> str:
    """A Kafka ``Uuid`` string: url-safe base64 of 16 random bytes, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


async def _probe_metadata(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise ConnectionError("no broker registered yet")
    finally:
        await admin.close()


class KafkaServer(ServerProcess):
    """Single-node KRaft Kafka (``process.roles=broker,controller``) in a throwaway directory.

    ``config`` entries override/extend the generated ``server.properties``. Re-using a ``data_dir``
    that is already formatted keeps its topics (storage format is skipped). Use as a context manager,
    or ``start()``/``stop()``; ``kill()`` SIGKILLs it (then ``start()`` restarts on the same data).
    """

    name = "kafka"
    start_timeout = 90.0

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        controller_port: int | None = None,
        heap: str = "768m",
        config: Mapping[str, object] | None = None,
        version: str = KAFKA_VERSION,
    ) -> None:
        self.libs = ensure_kafka_libs(version)
        super().__init__(port, data_dir)
        self.controller_port = controller_port or free_port()
        self.heap, self.version, self.extra = heap, version, dict(config or {})

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` for clients: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def _repick_ports(self) -> None:
        self.port, self.controller_port = free_port(), free_port()

    def properties(self) -> dict[str, object]:
        """The broker configuration written to ``server.properties``."""
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir / "data",
            "num.partitions": 4,
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 8,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 4,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            # Lets test consumers use a short session timeout (Faust: broker_session_timeout) so that a
            # killed worker's partitions are reassigned in seconds (the default minimum is 6s).
            "group.min.session.timeout.ms": 1000,
            # After kill(), the restarted broker waits out the old incarnation's session (default 9s).
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 5000,
            "num.io.threads": 4,
            "num.network.threads": 2,
            "log.cleaner.dedupe.buffer.size": 32 * 1024 * 1024,
        }
        props.update(self.extra)
        return props

    def _prepare(self) -> None:
        cfg = self.data_dir / "server.properties"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        (self.data_dir / "log4j2.properties").write_text(LOG4J2)
        if not (self.data_dir / "data" / "meta.properties").exists():
            fmt = self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(cfg))
            done = subprocess.run(fmt, capture_output=True, text=True, cwd=self.data_dir)
            if done.returncode != 0:
                out = "\n".join(ln for ln in (done.stdout + done.stderr).splitlines() if "\tat " not in ln)
                raise ServerStartError(f"kafka storage format failed:\n{out[-3000:]}")

    def _java(self, main: str, *args: str) -> list[str]:
        java = Path(os.environ["JAVA_HOME"], "bin", "java") if "JAVA_HOME" in os.environ else "java"
        return [
            str(java),
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.data_dir / "server.properties"))

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        # aiokafka needs an event loop; run it on a private one so callers may already be in a loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            try:
                pool.submit(asyncio.run, _probe_metadata(self.bootstrap)).result(15)
                return True
            except Exception:  # noqa: BLE001 - not ready yet
                return False
