"""One isolated pipeline (own topics, consumer groups and read-model schema) on shared servers.

Used by the failure drills and the integration tests: it starts `ems` processes as real
subprocesses (workers, API, collectors), kills and restarts them, and reads the read models.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psycopg
from psycopg.rows import dict_row

from ems.api.security.keys import hash_secret, new_key
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from ems.settings import Settings
from ems.streams.kafka import read_to_end

T = TypeVar("T")
ALL_STAGES = "normalize,dedupe,projections,assets,correlate,tickets,suppressions,heartbeats"


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Pipeline:
    """One isolated pipeline on shared servers; `settings` are extra `EMS_*` values (lower case)."""

    def __init__(self, server_env: dict[str, str], logs: Path, **settings: str) -> None:
        self.name = "t" + uuid.uuid4().hex[:10]
        self.api_port = free_port()
        self.env = {
            **os.environ,
            **server_env,
            "EMS_TOPIC_PREFIX": self.name,
            "EMS_APP_ID": f"{self.name}-app",
            "EMS_READ_MODEL_SCHEMA": self.name,
            "EMS_WORKER_WEB_PORT": "0",
            "EMS_API_PORT": str(self.api_port),
            "EMS_PARTITIONS": "4",
            # Scenarios carry fixed past timestamps: a wall-clock ticker would expire their alerts.
            # Tests that need the ticker turn it on (test_alert_lifecycle.py).
            "EMS_TICK_INTERVAL": "0",
            # Nor do the processes' own heartbeats run (an expiry would be an alert the tests do not
            # expect); test_heartbeats.py turns them on.
            "EMS_LIVENESS_INTERVAL": "0",
            # The tests and drills push thousands of events a minute with one key (test_ratelimit
            # sets its own limits).
            "EMS_RATE_LIMIT_PER_MINUTE": "10000000",
            **{f"EMS_{k.upper()}": v for k, v in settings.items()},
        }
        self.settings = Settings.of_env(self.env)
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.args: dict[str, tuple[str, ...]] = {}
        self.api = f"http://127.0.0.1:{self.api_port}"
        self._key: str | None = None

    # -- processes ---------------------------------------------------------------------------
    def start(self, name: str, *args: str) -> subprocess.Popen:
        proc = spawn_ems(args, self.env, self.logs / f"{self.name}-{name}.log")
        self.procs[name], self.args[name] = proc, args
        return proc

    def restart(self, name: str) -> subprocess.Popen:
        """Start process `name` again with the arguments it was first started with."""
        return self.start(name, *self.args[name])

    def start_worker(self, name: str = "worker", stages: str = ALL_STAGES) -> None:
        """Start `ems worker`; return once it has created the topics and the read-model tables."""
        self.start(name, "worker", "--stages", stages)

        def prepared() -> bool:
            self.check_alive(name)
            return self.scalar("SELECT to_regclass(%s) IS NOT NULL", (f"{self.name}.alerts",), "public")

        wait_for(prepared, 120, "the worker to create topics and tables")

    def start_api(self, *options: str) -> None:
        """Start `ems api` (with `options`, e.g. `--workers 2`); return once it answers."""
        self.start("api", "api", *options)
        wait_for(self._api_up, 60, "the API to answer /health/ready")

    def _api_up(self) -> bool:
        self.check_alive("api")
        try:
            return httpx.get(f"{self.api}/health/ready", timeout=5).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def healthy(self) -> bool:
        """`/health/ready` answers 200 (servers reachable, every stage alive and keeping up)."""
        try:
            return httpx.get(f"{self.api}/health/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    # -- credentials ---------------------------------------------------------------------------
    def admin_key(self) -> str:
        """An API key with every permission, made once per pipeline straight in its schema (the
        migrations of the API or a worker must have run)."""
        if self._key is None:
            table = f"{self.name}.api_keys"
            wait_for(
                lambda: self.scalar("SELECT to_regclass(%s) IS NOT NULL", (table,), "public"),
                120,
                "the api_keys table",
            )
            key_id, secret, text = new_key()
            self.query(
                "INSERT INTO api_keys (key_id, name, owner, scopes, secret_hash) "
                "VALUES (%s, 'pipeline-admin', 'tests', %s, %s) RETURNING key_id",
                (key_id, ["admin"], hash_secret(secret)),
            )
            self._key = text
        return self._key

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate as the pipeline's admin key."""
        return {"Authorization": f"Key {self.admin_key()}"}

    def client(self, timeout: float = 30, **kwargs: Any) -> httpx.Client:
        """An HTTP client of the pipeline's API, authenticated with its admin key."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.api, timeout=timeout, headers=headers, **kwargs)

    def async_client(self, timeout: float = 30, **kwargs: Any) -> httpx.AsyncClient:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.api, timeout=timeout, headers=headers, **kwargs)

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}; log:\n{self.log_tail(name)}")

    def log_path(self, name: str) -> Path:
        return self.logs / f"{self.name}-{name}.log"

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.log_path(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill process `name` and its process group (supervisor and worker alike)."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)
        proc.wait(30)

    def kill_supervised_child(self, name: str) -> int:
        """`kill -9` the worker a supervisor runs (the supervisor restarts it); returns its pid."""
        children = wait_for(lambda: child_pids(self.procs[name].pid), 30, f"the child of {name}")
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def stop_all(self) -> None:
        stop_processes(self.procs.values())
        self.procs.clear()

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an `ems` command to completion."""
        return subprocess.run(
            [sys.executable, "-m", "ems.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # -- read models ---------------------------------------------------------------------------
    def query(self, sql: str, params: tuple = (), schema: str | None = None) -> list[dict[str, Any]]:
        url = self.settings.database_url.get_secret_value()
        with psycopg.connect(url, options=f"-c search_path={schema or self.name}", row_factory=dict_row) as c:
            return c.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple = (), schema: str | None = None) -> Any:
        return next(iter(self.query(sql, params, schema)[0].values()))

    def _wait_count(self, sql: str, want: int, timeout: float, what: str) -> None:
        """Wait until `sql` counts at least `want` (the workers stay alive meanwhile)."""

        def done() -> bool:
            self.check_alive()
            try:
                return self.scalar(sql) >= want
            except psycopg.errors.UndefinedTable:
                return False

        wait_for(done, timeout, what)

    def wait_projected(self, events: int, timeout: float = 180) -> None:
        """Wait until the events read model holds `events` rows."""
        self._wait_count("SELECT count(*) FROM events", events, timeout, f"{events} projected events")

    def wait_alert_events(self, total: int, timeout: float = 180) -> None:
        """Wait until the alerts read model accounts for `total` events, then for quiet."""
        sql = "SELECT coalesce(sum(event_count), 0) FROM alerts"
        self._wait_count(sql, total, timeout, f"alerts to account for {total} events")
        self.wait_quiet(timeout)

    def wait_quiet(self, timeout: float = 180, quiet: float = 3.0) -> None:
        """Wait until the read models stop changing for `quiet` seconds (the pipeline is drained)."""
        probe = (
            "SELECT (SELECT coalesce(sum(version), 0) FROM alerts) + (SELECT count(*) FROM events) "
            "+ (SELECT coalesce(sum(last_offset), 0) FROM projection_checkpoint)"
        )
        last, since = None, time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            now = self.scalar(probe)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.3)
        raise AssertionError(f"read models still changing after {timeout}s")

    # -- topics --------------------------------------------------------------------------------
    def read_topic(self, name: str, raw: bool = False) -> list[Any]:
        """Every record of topic `name` (short name, e.g. "deadletter"): parsed JSON, or the bytes."""

        async def read() -> list[Any]:
            topic = self.settings.topic(name)
            return [m.value async for m in read_to_end(self.settings.kafka_bootstrap, topic)]

        values = asyncio.run(read())
        return values if raw else [orjson.loads(v) for v in values]

    def dead_letters(self, want: int = 0) -> list[dict] | None:
        """The dead letters so far, or None while there are fewer than `want` (for `wait_for`)."""
        letters = self.read_topic("deadletter")
        return letters if len(letters) >= want else None
