"""Real Kafka, PostgreSQL and Redis servers on loopback, in throwaway directories, for tests and benchmarks.

    with RealStack() as stack:
        os.environ.update(stack.env())   # EMS_KAFKA_BOOTSTRAP, EMS_DATABASE_URL, EMS_REDIS_URL

``python -m ems.infra.servers [--env-file PATH]`` starts all three, prints the ``EMS_*=...`` lines and
runs until Ctrl-C/SIGTERM. Prerequisites (redis-server, postgresql-15, the Kafka jars): infra/install.sh.
Nothing outlives the caller: see :mod:`ems.infra.process`.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from .kafka_server import KAFKA_VERSION, KafkaServer, ensure_kafka_libs
from .process import ServerProcess, ServerStartError, free_port

log = logging.getLogger(__name__)

__all__ = [
    "KAFKA_VERSION",
    "KafkaServer",
    "PostgresServer",
    "RealStack",
    "RedisServer",
    "ServerStartError",
    "ensure_kafka_libs",
    "free_port",
    "main",
]


def postgres_bindir() -> Path:
    """``$EMS_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``, else ``pg_config --bindir``."""
    if env := os.environ.get("EMS_PG_BIN"):
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    if pg_config := shutil.which("pg_config"):
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    raise ServerStartError("PostgreSQL binaries not found: run infra/install.sh or set EMS_PG_BIN")


def _reachable(folder: Path, user: str) -> bool:
    """Whether `user` may enter every folder above `folder` (the server runs as that user)."""
    uid = pwd.getpwnam(user).pw_uid
    for parent in folder.resolve().parents:
        mode = parent.stat()
        if mode.st_uid != uid and not mode.st_mode & stat.S_IXOTH:
            return False
    return True


class PostgresServer(ServerProcess):
    """A PostgreSQL cluster (initdb, trust auth, TCP on 127.0.0.1 only) with database ``ems``.

    Durability is off for speed (fsync, synchronous_commit, full_page_writes). PostgreSQL refuses
    to run as root: started by root, the server runs as `os_user` (default: the ``postgres``
    system user), which owns the data folder; when that user cannot reach the folder given, the
    data goes to a temporary folder instead. The database superuser is always ``postgres``.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect
    user = "postgres"  # the database superuser

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        database: str = "ems",
        bindir: Path | None = None,
        os_user: str = "postgres",
    ) -> None:
        self.database, self.bindir = database, bindir or postgres_bindir()
        self.os_user = os_user if os.geteuid() == 0 else None
        unreachable = self.os_user and data_dir is not None and not _reachable(Path(data_dir), self.os_user)
        # Unreachable: ServerProcess makes (and removes on stop) a folder under the temp dir.
        super().__init__(port, None if unreachable else data_dir)
        if unreachable:
            log.info(
                "%s cannot reach %s: PostgreSQL keeps its data and log in %s until it stops",
                self.os_user,
                data_dir,
                self.data_dir,
            )

    @property
    def url(self) -> str:
        """libpq/psycopg URL of the ``ems`` database."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _popen_kwargs(self) -> dict[str, object]:
        # user= alone would keep root's group and supplementary groups.
        if self.os_user is None:
            return {}
        return {"user": self.os_user, "group": pwd.getpwnam(self.os_user).pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if self.os_user is not None:  # the server's cwd is data_dir: it must own and enter it
            entry = pwd.getpwnam(self.os_user)
            self.data_dir.chmod(self.data_dir.stat().st_mode | stat.S_IXOTH)
            for root, dirs, files in os.walk(self.data_dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(name, entry.pw_uid, entry.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            opts = f"-U {self.user} --auth=trust -E UTF8 --locale=C --no-sync".split()
            cmd = [str(self.bindir / "initdb"), "-D", str(pgdata), *opts]
            kwargs = self._popen_kwargs()
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.data_dir, **kwargs)  # type: ignore[call-overload]
            if done.returncode != 0:
                raise ServerStartError(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": "",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 200,
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        args = [f"-c{k}={v}" for k, v in settings.items()]
        return [str(self.bindir / "postgres"), "-D", str(self.data_dir / "pgdata"), *args]

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user=self.user,
                dbname="postgres",
                connect_timeout=2,
                autocommit=True,
            ):
                return True
        except psycopg.OperationalError:
            return False

    def _after_ready(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                return
            conn.execute(f'CREATE DATABASE "{self.database}"')  # type: ignore[arg-type]


class RedisServer(ServerProcess):
    """redis-server on 127.0.0.1 with persistence off (no RDB, no AOF)."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def executable(self) -> str:
        """The redis-server binary (Debian's)."""
        return shutil.which("redis-server") or "/usr/bin/redis-server"

    def _command(self) -> list[str]:
        return [
            self.executable(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class RealStack:
    """Kafka + PostgreSQL + Redis. Kafka is launched first and warms up while the others start."""

    def __init__(self) -> None:
        self.kafka = KafkaServer()
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.startup_seconds: dict[str, float] = {}

    def start(self) -> Self:
        """Start all three; on any failure stop those already started and re-raise."""
        t0 = time.monotonic()
        try:
            self.kafka.launch()
            for server in (self.postgres, self.redis, self.kafka):
                server.launch()  # no-op for Kafka, already running
                server.wait_ready()
                self.startup_seconds[server.name] = round(time.monotonic() - t0, 2)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in (self.kafka, self.postgres, self.redis):
            server.stop()

    def env(self) -> dict[str, str]:
        """The environment variables the EMS services read."""
        return {
            "EMS_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "EMS_DATABASE_URL": self.postgres.url,
            "EMS_REDIS_URL": self.redis.url,
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a :class:`RealStack`, print ``EMS_*=...`` lines, run until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m ems.infra.servers", description=__doc__.split("\n")[0])
    parser.add_argument("--env-file", help="also write the EMS_*=... lines to this file once ready")
    args = parser.parse_args(argv)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        with RealStack() as stack:
            lines = "".join(f"{k}={v}\n" for k, v in stack.env().items())
            print(lines, end="", flush=True)
            print(f"# ready in {stack.startup_seconds}s; Ctrl-C to stop", file=sys.stderr, flush=True)
            if args.env_file:
                Path(args.env_file).write_text(lines)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
