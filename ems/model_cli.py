"""`ems model list|publish|activate|rollback`: the root-cause model registry on `ems.models`.

Each command reads the topic from its beginning (no consumer group), folds it (`ModelRegistry`),
checks the change against that state and appends its records; a refused change (unknown version, no
previous version) exits 2 with the reason and appends nothing. The correlate stage follows the topic
and swaps to the live model between batches (docs/rca.md "Model registry").
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from aiokafka.errors import KafkaError

from ems.ml.rca.forest import Forest
from ems.ml.rca.registry import ModelRegistry, RegistryError, pack
from ems.schemas.model_registry import ModelActivated, ModelPublished
from ems.settings import Settings, get_settings
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import make_producer, read_to_end, send_record, settle
from ems.streams.topics import ensure_topics

RECORDS = (ModelPublished, ModelActivated)


def shipped_version() -> str:
    from ems.ml.rca.rank import default_ranker

    return default_ranker().version


async def read_registry(settings: Settings) -> tuple[ModelRegistry, dict[int, str]]:
    """The registry folded from `ems.models`, and the records it could not apply (offset -> why)."""
    registry = ModelRegistry(shipped_version())
    refused = {}
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("models")):
        try:
            registry.apply(decode(msg.value, RECORDS))
        except (DecodeError, RegistryError) as exc:
            refused[msg.offset] = str(exc)
    return registry, refused


async def append(settings: Settings, records: list[ModelPublished | ModelActivated]) -> None:
    """Append `records` in order (one partition), then read the topic again: RegistryError when the
    fold refused one of them (another change appended meanwhile won)."""
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [await send_record(producer, settings.topic("models"), r) for r in records]
        await producer.flush()
        await settle(list(futures))  # (settle empties the list it is given)
    finally:
        await producer.stop()
    _, refused = await read_registry(settings)
    for future in futures:
        reason = refused.get(future.result().offset)
        if reason:
            raise RegistryError(f"not applied: {reason}")


def publish(settings: Settings, forest: Forest, actor: str, training: dict) -> str:
    """Publish `forest` and make it live; returns what was done. RegistryError when refused."""

    async def main() -> str:
        registry, _ = await read_registry(settings)
        before = registry.active
        await append(settings, registry.publish(pack(forest, actor, training), actor))
        return f"published {forest.version} and made it live (was {before})"

    return asyncio.run(main())


def default_actor() -> str:
    """Who runs the command (the login name), recorded with the change."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _actor(args: argparse.Namespace) -> str:
    return args.actor or default_actor()


def _change(args: argparse.Namespace) -> int:
    settings = get_settings()

    async def main() -> str:
        registry, _ = await read_registry(settings)
        before = registry.active
        if args.action == "rollback":
            record = registry.rollback(_actor(args), args.to)
        else:
            record = registry.activate(args.version, _actor(args))
        await append(settings, [record])
        return f"{args.action}: {record.version} is live (was {before})"

    try:
        if args.action == "publish":
            print(publish(settings, Forest.load(args.file), _actor(args), {"file": str(args.file)}))
        else:
            print(asyncio.run(main()))
    except (RegistryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, OSError) as exc:
        print(f"error: cannot reach Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


def lines(registry: ModelRegistry) -> list[str]:
    """`ems model list`: the shipped model and each published version (* the live one), oldest
    first, with its held-out scores; then where a rollback returns."""
    live = registry.active
    out = [f"{'*' if live == registry.shipped else ' '} {registry.shipped:<32} shipped (ml/models/)"]
    for e in registry.entries():
        held = e.metrics.get("held_out", {}).get("model", {})
        scores = f" held-out top-1 {held['top1']} of {held['incidents']}" if held.get("incidents") else ""
        mark = "*" if e.version == live else " "
        out.append(f"{mark} {e.version:<32} published {e.published_at[:19]} by {e.actor}{scores}")
    if registry.previous:
        out.append(f"rollback returns to {registry.previous[-1]}")
    return out


def _list(args: argparse.Namespace) -> int:
    try:
        registry, refused = asyncio.run(read_registry(get_settings()))
    except (KafkaError, OSError) as exc:
        print(f"error: cannot reach Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines(registry)))
    for offset, why in refused.items():
        print(f"record at offset {offset} not applied: {why}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems model ...` to the CLI."""
    p = sub.add_parser("model", help="the root-cause model registry: list, publish, activate, rollback")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("list", help="the published versions; * marks the live one")
    q.set_defaults(fn=_list)
    q = actions.add_parser("publish", help="publish a model file and make it live")
    q.add_argument("file", type=Path)
    q = actions.add_parser("activate", help="make a published version live")
    q.add_argument("version")
    q = actions.add_parser("rollback", help="return to the version live before the current one")
    q.add_argument("--to", help="one of the versions live before (default: the last one)")
    for name in ("publish", "activate", "rollback"):
        actions.choices[name].add_argument("--actor", help="recorded with the change (default: $USER)")
        actions.choices[name].set_defaults(fn=_change)
