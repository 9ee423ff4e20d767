"""Who is calling and what they may do: permissions, roles and the `Principal` of a request.

A permission is a string `<verb>:<area>` (plus `admin`, which implies every other one). A user has a
role, which names a set of permissions; an API key carries its permissions (scopes) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ems.api.security.tokens import TokenClaims

ADMIN = "admin"
READ = frozenset(
    {
        "read:alerts",
        "read:assets",
        "read:metrics",
        "read:incidents",
        "read:tickets",
        "read:suppressions",
        "read:checks",
        "read:health",
    }
)
# What an operator changes while working alerts: ack/shelve/assign/notes (write:alerts), tickets,
# incidents, silences and maintenance windows (write:suppressions). Asset edits, ingest of
# observations and user/key management are not operational writes. Synthetic checks (write:checks) are.
OPERATIONAL_WRITES = frozenset(
    {"write:alerts", "write:incidents", "write:tickets", "write:suppressions", "write:checks"}
)
PERMISSIONS: frozenset[str] = READ | OPERATIONAL_WRITES | {"write:observations", "write:assets", ADMIN}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": PERMISSIONS,
    "operator": READ | OPERATIONAL_WRITES,
    "viewer": READ,
}
ROLES = tuple(ROLE_PERMISSIONS)


def unknown_permissions(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
    """The entries of `scopes` that are not permissions, sorted."""
    return sorted(set(scopes) - PERMISSIONS)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request: a user (by token) or an API key.

    `tenant` None means every tenant. `token` holds the verified access-token claims of a user
    authenticated by JWT (logout revokes them); it is None for keys.
    """

    name: str
    kind: Literal["user", "key"]
    role: str | None
    permissions: frozenset[str]
    tenant: str | None
    key_id: str | None = None
    token: TokenClaims | None = None

    def allows(self, permission: str) -> bool:
        """Whether this principal holds `permission` (`admin` holds all)."""
        return ADMIN in self.permissions or permission in self.permissions

    @property
    def actor(self) -> str:
        """The name recorded in history and audit rows: the user's name, or `key:<key name>`."""
        return self.name if self.kind == "user" else f"key:{self.name}"
