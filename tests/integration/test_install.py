"""A regular install works: the wheel, in a fresh virtualenv outside the checkout, runs the pipeline.

`make install` is an editable install: it maps the checkout's folders with a path finder, so it
cannot show a package that a regular `pip install .` (the Dockerfile) leaves out; ems.api.formats
once was, and `ems api` died with ModuleNotFoundError. Here the wheel is built from a clean copy of
the checkout (a stale build/ folder could hide a missing module), installed with its dependencies
into a new virtualenv in a temporary folder, and `ems worker` / `ems api` run from that
virtualenv's bin/ with the cwd in another temporary folder and no PYTHONPATH: nothing can come
from the checkout. Cost: ~3 s for the wheel, ~8-25 s for the virtualenv and its dependencies (from PyPI
or the pip cache), then one short pipeline run (~8 s). test_demo.py reuses these helpers.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from ems.api.openapi import openapi_spec
from ems.infra.migrate import migration_files
from ems.process_group import die_with_parent
from ems.schemas.identity import asset_id_for
from tests.integration.harness import Pipeline, wait_for

ROOT = Path(__file__).resolve().parents[2]
# What `git clone` would not bring, or what a build must not see (a stale build/ hides a missing package).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".ems-*"
)
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")

pytestmark = pytest.mark.skipif(
    os.environ.get("EMS_TEST_STACK", "real") == "embedded",
    reason="the wheel runs on the real servers in the first pass of `make test`; on the embedded stack "
    "this would only repeat the same build, install and run (~20-40 s). test_demo.py runs the wheel there.",
)


def _run(cmd: list[str], **kwargs: object) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the variables that could put the checkout (or another venv) on sys.path."""
    return {k: v for k, v in env.items() if k not in _LEAKY}


def build_wheel(folder: Path) -> Path:
    """Copy the checkout's sources into `folder`/src and build the project's wheel from there."""
    src, dist = folder / "src", folder / "dist"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(src)])
    (wheel,) = dist.glob("*.whl")
    return wheel


def install_venv(folder: Path, requirement: str) -> Path:
    """A new virtualenv in `folder` with `requirement` (a wheel path, extras allowed); its bin/."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", requirement],
        env=clean_env(os.environ),
    )
    where = _run(
        [str(python), "-c", "import ems.cli; print(ems.cli.__file__)"], cwd=folder, env=clean_env(os.environ)
    )
    assert Path(where.strip()).is_relative_to(folder), f"ems imported from {where.strip()}, not {folder}"
    return folder / "bin"


class WheelPipeline(Pipeline):
    """A :class:`Pipeline` whose `ems` processes run from another virtualenv's bin/, in `cwd`."""

    def __init__(self, servers: dict[str, str], logs: Path, bindir: Path, cwd: Path) -> None:
        super().__init__(servers, logs)
        self.bindir, self.cwd = bindir, cwd

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.logs / f"{self.name}-{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [str(self.bindir / "ems"), *args],
                env=clean_env(self.env),
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.procs[name] = proc
        return proc


@pytest.fixture(scope="module")
def wheel_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh virtualenv holding the wheel and its dependencies (no extras: as in the Dockerfile)."""
    folder = tmp_path_factory.mktemp("install")
    return install_venv(folder / "venv", str(build_wheel(folder)))


@pytest.fixture
def wheel_pipeline(servers, wheel_bin: Path, tmp_path: Path) -> Iterator[WheelPipeline]:
    (tmp_path / "cwd").mkdir()
    p = WheelPipeline(servers, tmp_path, wheel_bin, tmp_path / "cwd")
    try:
        yield p
    finally:
        p.stop_all()


def test_the_wheel_holds_every_module_of_the_checkout(wheel_bin: Path, tmp_path: Path) -> None:
    """Every .py file under the mapped folders is a module of the installed wheel, migrations included."""
    spec = importlib.util.spec_from_file_location("ems_setup_py", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # the folder mapping; setup() runs only as __main__
    modules = sorted(
        ".".join((name, *path.relative_to(ROOT / folder).with_suffix("").parts)).removesuffix(".__init__")
        for folder, name in setup.FOLDERS.items()
        for path in (ROOT / folder).rglob("*.py")
    )
    probe = (
        "import importlib.util, sys\n"
        "from ems.infra.migrate import migration_files\n"
        "print([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None])\n"
        "print(len(migration_files()))\n"
    )
    out = _run([str(wheel_bin / "python"), "-c", probe, *modules], cwd=tmp_path, env=clean_env(os.environ))
    missing, migrations = out.splitlines()
    assert "ems.api.formats.alerta" in modules
    assert missing == "[]"
    assert int(migrations) == len(migration_files())


def test_ems_worker_and_api_from_the_wheel_turn_an_event_into_an_alert(
    wheel_pipeline: WheelPipeline,
) -> None:
    p = wheel_pipeline
    p.start_worker()  # returns once the worker has created the topics and the read-model tables
    applied = {row["name"] for row in p.query("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in migration_files()}
    p.start_api()
    with httpx.Client(base_url=p.api, timeout=60) as c:
        # Every route module was imported: the served document lists the paths of the checkout's.
        assert set(c.get("/openapi.json").json()["paths"]) == set(openapi_spec()["paths"])
        assert c.get("/health").status_code == 200

        # events -> the worker from the wheel -> alerts
        event = {"source": "nms", "assetId": "ast_wheel", "severity": "critical", "title": "NodeDown"}
        assert c.post("/api/v1/events", json=event).status_code == 202
        alerts = wait_for(
            lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_wheel"}).json()["alerts"],
            120,
            "the alert",
        )
        assert [(a["severity"], a["title"]) for a in alerts] == [("critical", "NodeDown")]
        assert c.get("/api/v1/events").json()["total"] == 1

        # alert actions: the command goes through the worker's lifecycle stage
        r = c.post(
            f"/api/v1/alerts/{alerts[0]['alert_id']}/ack", params={"wait": 30}, headers={"X-EMS-User": "ann"}
        )
        assert r.status_code == 200 and r.json()["alert"]["status"] == "acknowledged", r.text

        # integrations (ems.api.formats): the Alerta list shows the same alert
        alerta = c.get("/api/alerts").json()
        assert [a["resource"] for a in alerta["alerts"]] == ["ast_wheel"], alerta

        # assets and topology, through the worker's assets stage
        asset = {"natural_key": "app:wheel", "name": "wheel", "type": "application", "actor": "ann"}
        assert c.post("/api/v1/assets", params={"wait": 30}, json=asset).status_code == 200
        assert c.get("/api/v1/assets").json()["total"] == 1
        up = c.get(f"/api/v1/assets/{asset_id_for('app:wheel')}/upstream")
        assert up.status_code == 200, up.text

        # metric series (no samples posted: an empty answer, but from the read model)
        r = c.get("/api/v1/metrics/latest", params={"asset": "ast_wheel"})
        assert r.status_code == 200 and r.json()["series"] == [], r.text
