"""Stable asset ids, shared by collectors and the asset registry.

A collector does not own assets, but the events and metrics it sends must name the same asset the
registry keeps for its discoveries. Both derive the id from the asset's natural key, so they agree
without asking each other: `asset_id_for("device:core-rtr-1")` is the same everywhere, forever.

Natural keys by convention: `device:<sysName, lower case>` (or `device:<management ip>` when the
device has no name) for network devices; `aws:<arn>` for cloud resources; `service:<name>` for
business services; anything namespaced the same way for other sources.
"""

from __future__ import annotations

import hashlib

PREFIX = "ast_"


def asset_id_for(natural_key: str) -> str:
    """The asset id of a natural key (case and surrounding blanks do not matter)."""
    key = natural_key.strip().lower()
    if not key:
        raise ValueError("an asset's natural key cannot be empty")
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:20]
