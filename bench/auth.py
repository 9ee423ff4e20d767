"""Credentials for the HTTP benchmarks: the API refuses anonymous calls, so each benchmark makes an
admin key with `ems keys create` (as an operator would; the migrations run first) and sends it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping

# A benchmark measures latency, not the throttle: keys may send this many requests a minute.
UNLIMITED = {"EMS_RATE_LIMIT_PER_MINUTE": "60000000"}


def admin_key(env: Mapping[str, str], name: str = "bench") -> str:
    """A new API key with every permission in the read-model schema of `env` (EMS_* variables)."""
    done = subprocess.run(
        [sys.executable, "-m", "ems.cli", "keys", "create", name, "--scope", "admin"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.findall(r"key \(shown once\): (\S+)", done.stdout)
    if done.returncode != 0 or len(found) != 1:
        raise SystemExit(f"`ems keys create {name}` failed ({done.returncode}): {done.stdout}{done.stderr}")
    return found[0]


def auth_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}
