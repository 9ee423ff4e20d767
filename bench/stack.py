"""The servers a benchmark runs on: the EMS_* ones it was given, or ones it starts for itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def started_stack() -> Any:
    """A stack to start (a context manager with `env()`): the embedded servers with
    `EMS_BENCH_STACK=embedded` (what `ems demo` runs on), else the real ones."""
    if os.environ.get("EMS_BENCH_STACK") == "embedded":
        from ems.infra.embedded import EmbeddedStack

        return EmbeddedStack()
    from ems.infra.servers import RealStack

    return RealStack()


def on_servers(external: bool, run: Callable[[dict[str, str]], T]) -> T:
    """`run(env)` on the EMS_* servers of the environment (`external`), or on a started stack."""
    if external:
        return run(dict(os.environ))
    with started_stack() as stack:
        return run({**os.environ, **stack.env()})
