"""snmpsim SNMP agents (real UDP agents serving `.snmprec` recordings) for tests and benchmarks.

Every `.snmprec` under `recordings` is one simulated device: its path without the extension is the
v2c community and the SNMPv3 context name. Restarting the agent resets every `numeric` variation
(sysUpTime, counters) to its initial value, i.e. a reboot.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ems.infra.process import ServerProcess, free_port

# (user, auth proto, auth key, priv proto, priv key) served by every agent we start.
V3_USERS = [
    ("authpriv", "SHA", "authpass123", "AES", "privpass123"),
    ("sha256", "SHA256", "authpass256", "AES", "privpass256"),
    ("authonly", "SHA", "authpass123", "NONE", ""),
    ("noauth", "NONE", "", "NONE", ""),
]


def recordings_dir() -> Path:
    """The sample recordings of real devices shipped inside the snmpsim package."""
    import snmpsim

    return Path(snmpsim.__file__).parent / "data" / "recorded"


class SnmpSimAgent(ServerProcess):
    """`snmpsim-command-responder` on 127.0.0.1:<port> (UDP) serving `recordings`.

    With `endpoints` > 1 it also listens on more ports (`ports`): each port is one more device with
    the same data, which is how the benchmark simulates a fleet sharing one community.
    """

    name = "snmpsim"
    start_timeout = 60.0

    def __init__(
        self, recordings: str | os.PathLike[str], port: int | None = None, endpoints: int = 1, **kw: object
    ) -> None:
        super().__init__(port=port, **kw)  # type: ignore[arg-type]
        self.recordings = Path(recordings).resolve()
        self.endpoints = endpoints
        self.ports = [self.port] + [free_port() for _ in range(endpoints - 1)]
        self._log_mark = 0

    def _repick_ports(self) -> None:
        super()._repick_ports()
        self.ports = [self.port] + [free_port() for _ in range(self.endpoints - 1)]

    @staticmethod
    def fleet(src: Path, dest: Path, names: list[str]) -> Path:
        """Copy one recording under many names (= many devices / communities) into `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(src, dest / f"{name}.snmprec")
        return dest

    def _command(self) -> list[str]:
        exe = Path(sys.executable).parent / "snmpsim-command-responder"
        cmd = [
            str(exe) if exe.exists() else "snmpsim-command-responder",
            "--process-user=root" if os.geteuid() == 0 else "",
            "--process-group=root" if os.geteuid() == 0 else "",
            "--log-level=error",
            f"--cache-dir={self.data_dir / 'cache'}",
            "--v3-engine-id=auto",
            f"--data-dir={self.recordings}",
            *(f"--agent-udpv4-endpoint=127.0.0.1:{port}" for port in self.ports),
        ]
        for user, auth, akey, priv, pkey in V3_USERS:
            cmd.append(f"--v3-user={user}")
            if auth != "NONE":
                cmd += [f"--v3-auth-key={akey}", f"--v3-auth-proto={auth}"]
            if priv != "NONE":
                cmd += [f"--v3-priv-key={pkey}", f"--v3-priv-proto={priv}"]
        return [c for c in cmd if c]

    def launch(self) -> None:
        self._log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().launch()

    def _ready(self) -> bool:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_mark)
                return log.read().count(b"Listening at UDP/IPv4 endpoint") >= len(self.ports)
        except OSError:
            return False
