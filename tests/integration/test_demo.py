"""`ems demo --once` (make demo-check) from an install inside a private folder serves the demo alerts.

Users clone into folders only they can enter: root's home is mode 700, so is every `mktemp -d`.
As root, the embedded PostgreSQL runs as `nobody` (PostgreSQL refuses root), which cannot reach
binaries or data inside such a folder: `make demo` died with "Permission denied: .../pgserver/
pginstall/bin/initdb". To reproduce that, the wheel is installed with the [embedded] extra into a
fresh virtualenv inside a mode-700 folder (the pgserver binaries are then inside it) and
`ems demo --once` runs from that virtualenv with its cwd and --data-dir in the same folder. A clone
plus `make demo-check` shows the same but also installs the dev extra (make install: ~20 s more);
the wheel virtualenv costs ~10-30 s, the demo ~15 s. Run by a user other than root, the same test
checks the plain path (PostgreSQL runs as that user, straight from the virtualenv).

The copy itself (:func:`ems.infra.embedded.reachable_copy`) is checked without a stack, on a tree
laid out like pgserver's, by running its "binary" as nobody.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ems.infra.embedded import reachable_copy
from ems.infra.process import free_port
from tests.integration.harness import build_wheel, clean_env, install_venv

pytestmark = pytest.mark.embedded  # the demo is the embedded stack's own use

embedded_pass_only = pytest.mark.skipif(
    os.environ.get("EMS_TEST_STACK", "real") != "embedded",
    reason="the demo starts its own embedded stack, whatever the servers of the pass: it runs once, in "
    "the embedded pass of `make test` (EMS_TEST_STACK=embedded); here it would only repeat that run.",
)


@embedded_pass_only
def test_demo_from_a_private_folder_serves_the_demo_alerts(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)  # whatever the umask
    bindir = install_venv(private / "venv", f"{build_wheel(tmp_path)}[embedded]")
    port = free_port()
    cmd = [str(bindir / "ems"), "demo", "--once", "--data-dir", str(private / "demo"), "--port", str(port)]
    done = subprocess.run(
        cmd, cwd=private, env=clean_env(os.environ), capture_output=True, text=True, timeout=300
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "4 alerts:" in out
    assert "critical  open      x3  ast_router_01: Device Unreachable" in out
    assert "ok        resolved  x4  ast_switch_02: LinkDown" in out
    assert f"http://127.0.0.1:{port}/api/v1/alerts" in out
    # The credentials it made, printed once; the scenario was posted with the ingest key.
    assert "posted 13 demo observations" in out
    assert re.search(r"console: http://127\.0\.0\.1:\d+/  \(log in as demo-admin / \S{16,}\)", out), out[
        -2000:
    ]
    key = r"ingest key \(write:observations\): ems_[0-9a-f]{16}_\S{32,}"
    assert re.search(key, out), out[-2000:]


NAMES = ["pgserver", "pgserver.libs"]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")


def _fake_pgserver(site: Path) -> Path:
    """pgserver's layout: a program that reads a library from the sibling pgserver.libs; its path."""
    (site / "pgserver.libs").mkdir(parents=True)
    (site / "pgserver.libs" / "libpq.so").write_text("the library\n")
    program = site / "pgserver" / "pginstall" / "bin" / "initdb"
    program.parent.mkdir(parents=True)
    program.write_text('#!/bin/sh\ncat "$(dirname "$0")/../../../pgserver.libs/libpq.so"\n')
    program.chmod(0o700)  # as if installed with umask 077: the copy must open it up
    return program


def _as_nobody(program: Path) -> subprocess.CompletedProcess:
    nobody = pwd.getpwnam("nobody")
    return subprocess.run(
        [str(program)],
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache folder nobody can reach (under /tmp, not under pytest's private folders)."""
    folder = Path(tempfile.mkdtemp(prefix="ems-test-cache-"))
    folder.chmod(0o755)
    monkeypatch.setenv("EMS_EMBEDDED_PG_CACHE", str(folder))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@root_only
def test_root_copies_the_binaries_nobody_cannot_reach_once_and_the_copy_runs_as_nobody(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "home" / "venv" / "site-packages"
    program = _fake_pgserver(site)
    (tmp_path / "home").chmod(0o700)
    with pytest.raises(PermissionError):  # what `make demo` hit
        _as_nobody(program)

    # Another start finishes its copy while this one copies: this one's rename loses, it uses the winner's.
    real_copytree, others = shutil.copytree, []

    def copytree(*args: object, **kwargs: object) -> object:
        if not others:
            others.append(None)
            others[0] = reachable_copy(site, NAMES, "nobody", "pgserver-9")  # the other start
        return real_copytree(*args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", copytree)
    copy = reachable_copy(site, NAMES, "nobody", "pgserver-9")
    assert copy == others[0] == cache / "pgserver-9"
    assert os.listdir(cache) == ["pgserver-9"]  # no temporary sibling left behind
    assert reachable_copy(site, NAMES, "nobody", "pgserver-9") == copy  # later starts reuse it

    done = _as_nobody(copy / program.relative_to(site))
    assert (done.returncode, done.stdout) == (0, "the library\n"), done.stderr


@root_only
def test_binaries_nobody_can_reach_are_used_where_they_are(cache: Path) -> None:
    site = Path(tempfile.mkdtemp(prefix="ems-test-site-"))
    try:
        site.chmod(0o755)
        _fake_pgserver(site).chmod(0o755)
        assert reachable_copy(site, NAMES, "nobody", "pgserver-9") == site
        assert os.listdir(cache) == []
    finally:
        shutil.rmtree(site)
