"""docker-compose.yml: every service runs an `ems` command the CLI accepts, with a healthcheck and
resource limits, and waits for healthy servers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ems.cli import build_parser
from ems.worker import STAGES

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
EMS_SERVICES = {name: s for name, s in SERVICES.items() if s.get("command", [None])[0] == "ems"}


def test_the_stack_has_the_servers_workers_api_and_collector() -> None:
    assert {"kafka", "postgres", "redis"} <= SERVICES.keys()
    commands = [s["command"][1] for s in EMS_SERVICES.values()]
    assert commands.count("worker") >= 2 and "api" in commands and "collector" in commands
    assert SERVICES["postgres"]["image"] == "postgres:15" and SERVICES["redis"]["image"] == "redis:7"
    assert "controller" in SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper


@pytest.mark.parametrize("name", sorted(EMS_SERVICES))
def test_each_ems_command_parses_with_the_cli(name: str, capsys: pytest.CaptureFixture) -> None:
    command = EMS_SERVICES[name]["command"]
    try:
        args = build_parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"{name}: `{' '.join(command)}` refused by the CLI: {capsys.readouterr().err}")
    assert callable(args.fn)
    if command[1] == "worker":
        assert set(args.stages.split(",")) <= set(STAGES), f"{name}: unknown stage in {args.stages}"


def test_the_workers_together_run_every_stage_once() -> None:
    stages = [
        stage
        for s in EMS_SERVICES.values()
        if s["command"][1] == "worker"
        for stage in build_parser().parse_args(s["command"][1:]).stages.split(",")
    ]
    assert sorted(stages) == sorted(STAGES)


def test_the_api_runs_one_process_per_core_it_may_use() -> None:
    api = SERVICES["api"]
    args = build_parser().parse_args(api["command"][1:])
    assert args.workers == float(api["deploy"]["resources"]["limits"]["cpus"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_has_a_healthcheck_and_limits(name: str) -> None:
    service = SERVICES[name]
    check = service.get("healthcheck", {}).get("test")
    assert check and check[0] in ("CMD", "CMD-SHELL") and len(check) > 1, f"{name}: no healthcheck"
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    assert {"cpus", "memory"} <= limits.keys(), f"{name}: no CPU/memory limits"


@pytest.mark.parametrize("name", sorted(EMS_SERVICES))
def test_ems_services_wait_for_healthy_servers(name: str) -> None:
    depends = EMS_SERVICES[name]["depends_on"]
    assert depends == {s: {"condition": "service_healthy"} for s in ("kafka", "postgres", "redis")}
    assert all("healthcheck" in SERVICES[s] for s in depends)
