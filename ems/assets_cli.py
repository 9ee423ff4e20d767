"""`ems assets import FILE`: a topology for users, through the asset commands.

FILE is JSON: `{"assets": [...], "edges": [...]}` (or just the list of assets). An asset has the
fields of `POST /api/v1/assets` (name, type, criticality, business_service, revenue_per_hour,
users_served, location, tags, dependencies, ...) and its `id` or `natural_key` (an import must name
its assets, so it can be run again). An edge is `{"source", "type", "target"}` with asset ids.

Every item is validated first (the models the API and the registry use); one bad item stops the
import with every problem listed and nothing appended. Then an unknown asset gets an `asset.create`,
a known one an `asset.update` of the fields given (its dependencies become links), and each edge an
`asset.link`, appended to `ems.commands` for the registry stage to apply. Command ids derive from the
content, so running the same file again appends commands the registry recognises as retries.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
from pydantic import TypeAdapter, ValidationError

from ems.schemas.asset import AssetId, CreateArgs, LinkArgs, UpdateArgs
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.settings import Settings, get_settings
from ems.streams.codecs import encode, format_validation_error
from ems.streams.kafka import make_producer

ACTOR = "ems assets import"
_ID = TypeAdapter(AssetId)


class BadImport(ValueError):
    """The file cannot be imported; the message lists every problem."""


def _command(name: str, target: str, args: dict[str, Any]) -> Command:
    digest = hashlib.sha256(orjson.dumps([name, target, args], option=orjson.OPT_SORT_KEYS)).hexdigest()
    return Command(event_id=f"import-{digest[:32]}", name=name, target=target, actor=ACTOR, args=args)


def parse(document: Any) -> tuple[list[tuple[str, CreateArgs]], list[tuple[str, LinkArgs]]]:
    """(id, create args) of every asset and (source, link args) of every edge; BadImport lists the
    problems of every bad item."""
    if isinstance(document, list):
        document = {"assets": document}
    if not isinstance(document, dict) or set(document) - {"assets", "edges"}:
        raise BadImport('expected {"assets": [...], "edges": [...]} or a list of assets')
    problems, assets, edges = [], [], []
    for n, item in enumerate(document.get("assets") or []):
        where = f"assets[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object")
            continue
        item = dict(item)
        given = item.pop("id", None)
        try:
            args = CreateArgs.model_validate(item)
            target = _ID.validate_python(given) if given else None
        except ValidationError as exc:
            problems.append(f"{where}: {format_validation_error(exc)}")
            continue
        if target is None and not args.natural_key:
            problems.append(f"{where}: give an id or a natural_key (an import must name its assets)")
            continue
        if target is not None and args.natural_key and asset_id_for(args.natural_key) != target:
            problems.append(f"{where}: id {target} is not asset_id_for({args.natural_key!r})")
            continue
        assets.append((target or asset_id_for(args.natural_key), args))
    for n, item in enumerate(document.get("edges") or []):
        where = f"edges[{n}]"
        if not isinstance(item, dict) or "source" not in item:
            problems.append(f"{where}: expected an object with source, type and target")
            continue
        item = dict(item)
        try:
            source = _ID.validate_python(item.pop("source"))
        except ValidationError as exc:
            problems.append(f"{where}.source: {format_validation_error(exc).removeprefix('(root): ')}")
            continue
        try:
            edges.append((source, LinkArgs.model_validate(item)))
        except ValidationError as exc:
            problems.append(f"{where}: {format_validation_error(exc)}")
    seen = [a for a, _ in assets]
    problems += [f"asset {a} is listed twice" for a in sorted({a for a in seen if seen.count(a) > 1})]
    if problems:
        raise BadImport("; ".join(problems))
    return assets, edges


def commands(
    assets: list[tuple[str, CreateArgs]], edges: list[tuple[str, LinkArgs]], existing: set[str]
) -> list[Command]:
    """The commands that bring the registry to the file: creates, updates and links."""
    out = []
    for target, args in assets:
        if target not in existing:
            out.append(_command("asset.create", target, args.model_dump(mode="json", exclude_none=True)))
            continue
        fields = args.model_dump(mode="json", exclude_none=True, exclude={"dependencies", "lifecycle"})
        fields.pop("natural_key", None)
        UpdateArgs.model_validate(fields)  # what the registry will check again
        out.append(_command("asset.update", target, fields))
        out += [
            _command("asset.link", target, {"type": e.type, "target": e.target, "attributes": e.attributes})
            for e in args.dependencies
        ]
    out += [_command("asset.link", source, link.model_dump(mode="json")) for source, link in edges]
    return out


def known_assets(settings: Settings, ids: list[str]) -> set[str]:
    """The ids among `ids` the assets read model holds."""
    url = settings.database_url.get_secret_value()
    with psycopg.connect(
        url, options=f"-c search_path={settings.read_model_schema}", connect_timeout=10
    ) as c:
        return {r[0] for r in c.execute("SELECT asset_id FROM assets WHERE asset_id = ANY(%s)", (ids,))}


async def append(settings: Settings, records: list[Command]) -> None:
    """Append the commands (keyed by their target) and wait until Kafka acknowledged all of them."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = settings.topic("commands")
        futures = [await producer.send(topic, key=c.key.encode(), value=encode(c)) for c in records]
        await producer.flush()
        for future in futures:
            await future
    finally:
        await producer.stop()


def run_import(path: str, settings: Settings) -> int:
    try:
        document = orjson.loads(Path(path).read_bytes())
        assets, edges = parse(document)
    except (OSError, orjson.JSONDecodeError, BadImport) as exc:
        print(f"ems assets import: {path}: {exc}", file=sys.stderr)
        return 2
    existing = known_assets(settings, [a for a, _ in assets])
    records = commands(assets, edges, existing)
    asyncio.run(append(settings, records))
    created = sum(1 for c in records if c.name == "asset.create")
    links = sum(1 for c in records if c.name == "asset.link")
    print(
        f"appended {len(records)} commands: {created} creates, {len(assets) - created} updates, "
        f"{links} links (refusals: ems deadletters --stage assets)"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="asset registry tools")
    tools = p.add_subparsers(dest="tool", required=True)
    q = tools.add_parser("import", help="import assets and edges from a JSON file (through asset commands)")
    q.add_argument("file")
    q.set_defaults(fn=lambda args: run_import(args.file, get_settings()))
