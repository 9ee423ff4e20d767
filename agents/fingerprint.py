"""Alert fingerprints: a stable hash of the event fields that identify "the same problem"."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_FIELDS = ("environment", "resource", "event", "asset_id")


class Fingerprinter:
    """Hashes the configured fields of an event, per source (`"*"` is the default list).

    A field is an event attribute name (`resource`) or a dotted path into its attributes
    (`attributes.interface`). The result depends only on the field values, never on time or
    process state, so it is stable across restarts and replays.

    A tenant, when there is one, is hashed too (after the configured fields, whatever they are):
    the same problem of two tenants is two alerts. Without a tenant the hash is what it always was,
    so alerts of tenant-less events keep their fingerprints (and ids) across upgrades and replays.
    """

    def __init__(self, fields_by_source: Mapping[str, Sequence[str]] | None = None) -> None:
        fields = dict(fields_by_source or {})
        fields.setdefault("*", list(DEFAULT_FIELDS))
        for source, names in fields.items():
            if not names:
                raise ValueError(f"fingerprint field list for source {source!r} is empty")
        self._fields = {source: tuple(names) for source, names in fields.items()}

    def fields_for(self, source: str) -> tuple[str, ...]:
        """The field names hashed for events from `source`."""
        return self._fields.get(source, self._fields["*"])

    def __call__(self, source: str, values: Mapping[str, Any], tenant: str | None = None) -> str:
        """Fingerprint of an event given as a mapping of its fields, for `tenant` (None: no tenant)."""
        parts = [f"{name}={_lookup(values, name)!r}" for name in self.fields_for(source)]
        if tenant is not None:
            parts.append(f"tenant={tenant!r}")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    value = values.get(head)
    if rest:
        return _lookup(value, rest) if isinstance(value, Mapping) else None
    if isinstance(value, list):
        return sorted(map(str, value))
    return value
