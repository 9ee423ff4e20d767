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
from collections.abc import Iterator
from pathlib import Path

import pytest

from ems.api.table import document
from ems.infra.migrate import migration_files
from ems.schemas.identity import asset_id_for
from tests.integration.harness import (
    ROOT,
    WheelPipeline,
    build_wheel,
    clean_env,
    install_venv,
    run_checked,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    os.environ.get("EMS_TEST_STACK", "real") == "embedded",
    reason="the wheel runs on the real servers in the first pass of `make test`; on the embedded stack "
    "this would only repeat the same build, install and run (~20-40 s). test_demo.py runs the wheel there.",
)


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
    out = run_checked(
        [str(wheel_bin / "python"), "-c", probe, *modules], cwd=tmp_path, env=clean_env(os.environ)
    )
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
    with p.client(timeout=60) as c:
        # Every route module was imported: the served document lists the paths of the checkout's.
        assert set(c.get("/openapi.json").json()["paths"]) == set(document()["paths"])
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
        # (the events read model has a projection of its own: it may land a moment after the alert)
        wait_for(
            lambda: c.get("/api/v1/events").json()["total"] == 1, 60, "the event in the events read model"
        )

        # alert actions: the command goes through the worker's lifecycle stage
        r = c.post(f"/api/v1/alerts/{alerts[0]['alert_id']}/ack", params={"wait": 30})
        assert r.status_code == 200 and r.json()["alert"]["status"] == "acknowledged", r.text
        assert r.json()["alert"]["acked_by"] == "key:pipeline-admin"

        # integrations (ems.api.formats): the Alerta list shows the same alert
        alerta = c.get("/api/alerts").json()
        assert [a["resource"] for a in alerta["alerts"]] == ["ast_wheel"], alerta

        # assets and topology, through the worker's assets stage
        asset = {"natural_key": "app:wheel", "name": "wheel", "type": "application"}
        assert c.post("/api/v1/assets", params={"wait": 30}, json=asset).status_code == 200
        assert c.get("/api/v1/assets").json()["total"] == 1
        up = c.get(f"/api/v1/assets/{asset_id_for('app:wheel')}/upstream")
        assert up.status_code == 200, up.text

        # metric series (no samples posted: an empty answer, but from the read model)
        r = c.get("/api/v1/metrics/latest", params={"asset": "ast_wheel"})
        assert r.status_code == 200 and r.json()["series"] == [], r.text
