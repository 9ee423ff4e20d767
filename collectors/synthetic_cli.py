"""`ems collector synthetic`: the synthetic checks runner as a service (docs/synthetic.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from pydantic import ValidationError

from ems.settings import Settings, get_settings

log = logging.getLogger(__name__)
LIVE_SQL = "SELECT check_id, spec, tenant FROM synthetic_checks WHERE deleted_at IS NULL"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems collector synthetic` (sharing `collector` with the other collectors)."""
    collector = sub.choices.get("collector") or sub.add_parser("collector", help="run a collector")
    kinds = next((a for a in collector._actions if isinstance(a, argparse._SubParsersAction)), None)
    kinds = kinds or collector.add_subparsers(dest="collector", required=True)
    c = kinds.add_parser("synthetic", help="run the synthetic HTTP(S) checks, publish results to Kafka")
    c.set_defaults(fn=lambda a: asyncio.run(run_collector(get_settings())))


def loader(settings: Settings):
    """Reads the live checks from the read model (a row that no longer validates is logged, skipped)."""
    import psycopg

    from ems.collectors.synthetic_checks import CheckSpec

    async def load() -> dict:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url.get_secret_value(),
            options=f"-c search_path={settings.read_model_schema}",
            connect_timeout=max(1, int(settings.db_connect_timeout)),
        ) as conn:
            rows = await (await conn.execute(LIVE_SQL)).fetchall()
        out = {}
        for check_id, spec, tenant in rows:
            try:
                out[check_id] = (CheckSpec.model_validate(spec), tenant)
            except ValidationError as exc:
                log.error("synthetic check %s skipped, its definition is invalid: %s", check_id, exc)
        return out

    return load


async def run_collector(settings: Settings) -> int:
    """Publish to Kafka until SIGTERM/SIGINT."""
    from ems.collectors.publish import kafka_sink, stop_on_signals
    from ems.collectors.synthetic_runner import Runner

    async with kafka_sink(settings) as sink:
        runner = Runner(
            loader(settings), sink, settings.synthetic_reload_interval, settings.synthetic_concurrency
        )
        stop_on_signals(runner.stop)
        log.info("synthetic checks runner started")
        await runner.run()
    log.info("synthetic checks runner stopped after %d runs", runner.runs)
    return 0
