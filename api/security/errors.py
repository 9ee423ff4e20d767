"""The errors of the security layer, each with a short `.reason` for the client and an HTTP `.status`.

Reasons never say whether a user exists: a bad name and a bad password give the same answer.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base class: `reason` is safe to show to the client, `status` is the HTTP answer."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def body(self) -> dict[str, str]:
        return {"error": self.reason}


class Unauthorized(SecurityError):
    """Credentials were presented but are not good (bad, expired, revoked, disabled user)."""

    status = 401


class Forbidden(SecurityError):
    """The principal is known but lacks the permission the action needs."""

    status = 403


class NotFound(SecurityError):
    """The user or key named does not exist."""

    status = 404


class Conflict(SecurityError):
    """The change collides with the current state (a user of that name exists, last admin...)."""

    status = 409


class Invalid(SecurityError):
    """A value is refused: password policy, unknown role or scope, bad name, past expiry."""

    status = 400
