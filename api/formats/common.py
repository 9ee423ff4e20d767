"""What every translator shares: the severity vocabulary and a precise, field-pathed error."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ems.schemas.limits import message, printable


class FormatError(ValueError):
    """A payload a translator refuses: every problem as `{field, message}` with a dotted field path."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str) -> FormatError:
        return cls([{"field": field, "message": message}])

    @classmethod
    def of(cls, exc: ValidationError, prefix: str = "") -> FormatError:
        """Pydantic errors, each located under `prefix` (e.g. `alerts[2].`)."""
        out = []
        for err in exc.errors(include_url=False):
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{printable(p)}" for p in err["loc"])
            field = f"{prefix}{loc.lstrip('.')}".rstrip(".") or "(body)"
            out.append({"field": field, "message": message(err)})
        return cls(out)


@dataclass(frozen=True)
class Severities:
    """Our severities (settings.severity_order) and the clearing one resolved alerts are sent with."""

    known: frozenset[str]
    clear: str

    @classmethod
    def of(cls, order: Iterable[str], clearing: Iterable[str]) -> Severities:
        known = frozenset(s.lower() for s in order)
        clearing = [s.lower() for s in clearing]
        if not clearing:
            raise ValueError("no clearing severity is configured; resolved alerts could not clear")
        return cls(known, "ok" if "ok" in clearing else clearing[0])

    def pick(self, wanted: str | None, aliases: dict[str, str], default: str) -> str:
        """`wanted` if it is one of ours, else its alias, else `default`."""
        for candidate in (wanted, aliases.get(wanted or "")):
            if candidate and candidate in self.known:
                return candidate
        return default


def text(value: Any) -> str:
    """A label/annotation value as text (None -> '')."""
    return "" if value is None else str(value)


def natural_id(tool: str, *parts: object) -> str:
    """The event id of a tool's own identity of an event (e.g. Alertmanager's fingerprint and
    startsAt): the same event sent again gets the same id, and the pipeline applies it once."""
    text = "\0".join("" if p is None else str(p) for p in parts)
    return f"{tool}-{hashlib.blake2b(text.encode(), digest_size=12).hexdigest()}"
