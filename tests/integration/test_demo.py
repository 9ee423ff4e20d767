"""`ems demo --once` (make demo-check): the embedded stack comes up and serves the demo alerts."""

from __future__ import annotations

import subprocess
import sys

from ems.infra.process import free_port


def test_demo_serves_the_demo_alerts_on_the_embedded_stack(tmp_path) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "ems.cli", "demo", "--once", "--data-dir", str(tmp_path), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "4 alerts:" in out
    assert "critical  open      x3  ast_router_01: Device Unreachable" in out
    assert "ok        resolved  x4  ast_switch_02: LinkDown" in out
    assert f"http://127.0.0.1:{port}/api/v1/alerts" in out
