"""`ems deadletters`: what the pipeline refused, and why.

Reads `ems.deadletter` from the beginning and prints one line per letter — when, which stage, where
the record came from (topic:partition:offset) and the reason — or the letters as JSON lines with
`--json` (the original bytes base64-encoded, as stored). Filters: `--stage`, `--topic` (the source
topic's short name, e.g. `observations.raw`), `--grep` (text in the reason), `--last N`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator

import orjson

from ems.schemas.deadletter import DeadLetter
from ems.settings import Settings, get_settings
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import read_to_end


async def read_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter on the topic, in offset order per partition."""
    out: list[DeadLetter] = []
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("deadletter")):
        try:
            out.append(decode(msg.value, DeadLetter))
        except DecodeError:
            continue  # not a letter of ours
    return out


def select(letters: list[DeadLetter], args: argparse.Namespace, settings: Settings) -> Iterator[DeadLetter]:
    """The letters the filters of `args` keep, oldest first."""
    topic = settings.topic(args.topic) if args.topic else None
    kept = [
        d
        for d in sorted(letters, key=lambda d: d.occurred_at)
        if (args.stage is None or d.stage == args.stage)
        and (topic is None or d.source_topic == topic)
        and (args.grep is None or args.grep.lower() in d.reason.lower())
    ]
    yield from kept[-args.last :] if args.last else kept


def _line(d: DeadLetter) -> str:
    where = f"{d.source_topic}:{d.source_partition}:{d.source_offset}"
    return f"{d.occurred_at:%Y-%m-%d %H:%M:%S} {d.stage:<22} {where:<40} {d.reason}"


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    letters = asyncio.run(read_letters(settings))
    count = 0
    for letter in select(letters, args, settings):
        count += 1
        print(orjson.dumps(letter.model_dump(mode="json")).decode() if args.json else _line(letter))
    if not args.json:
        print(f"{count} of {len(letters)} dead letters", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ems deadletters` to the CLI."""
    p = sub.add_parser("deadletters", help="list what the pipeline refused, with the reasons")
    p.add_argument("--stage", help="only letters of this stage, e.g. normalize, projection:events")
    p.add_argument("--topic", help="only letters of records from this topic (short name)")
    p.add_argument("--grep", help="only letters whose reason contains this text")
    p.add_argument("--last", type=int, default=0, help="only the last N letters")
    p.add_argument("--json", action="store_true", help="JSON lines, original bytes included")
    p.set_defaults(fn=_run)
