"""The HTTP shapes of authentication and user/key management (the OpenAPI document is made from these).

Requests refuse unknown fields (`extra="forbid"`). Answers never carry a password hash or a key's
secret hash; a key's plaintext appears once, in `KeyCreated`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ems.api.security.passwords import MAX_LENGTH
from ems.api.security.principal import PERMISSIONS
from ems.api.security.store import KeyInfo, UserInfo
from ems.api.security.tokens import TokenPair

Role = Literal["admin", "operator", "viewer"]
_REQUEST = ConfigDict(extra="forbid")
# What the account checks (ems.api.security.accounts, .keys) refuse, stated in the document's schemas.
USER_NAME = r"^\s*[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\s*$"  # compared stripped and in lower case
KEY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$"
TENANT: dict[str, Any] = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}


class LoginRequest(BaseModel):
    model_config = _REQUEST
    name: str = Field(min_length=1, max_length=64, description="User name (case-insensitive)")
    password: str = Field(min_length=1, max_length=MAX_LENGTH, description="The user's password")
    cookies: bool = Field(
        True,
        description="true (browsers): the session is set as HTTP-only cookies and the refresh token is "
        "not in the answer; false (scripts): no cookies, the refresh token is in the answer",
    )


class RefreshRequest(BaseModel):
    model_config = _REQUEST
    refresh_token: str | None = Field(
        None, description="The current refresh token; omit it to use the `ems_refresh` cookie"
    )


class LogoutRequest(BaseModel):
    model_config = _REQUEST
    refresh_token: str | None = Field(
        None, description="The session's refresh token, also revoked; omit it to use the cookie"
    )


class PasswordChange(BaseModel):
    model_config = _REQUEST
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH, description="The password in use")
    new_password: str = Field(
        min_length=1, max_length=MAX_LENGTH, description="The new password (policy: length, not the name)"
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str = Field(description="User name (lower case)")
    role: str = Field(description="admin, operator or viewer")
    tenant: str | None = Field(description="The only tenant the user sees; null: every tenant")
    disabled: bool = Field(description="A disabled user cannot log in and its tokens are refused")
    created_at: datetime = Field(description="When the user was created")
    updated_at: datetime = Field(description="Last change of the user")
    password_changed_at: datetime = Field(description="Last change of the password")

    @classmethod
    def of(cls, user: UserInfo) -> UserOut:
        return cls.model_validate(user)


class TokenResponse(BaseModel):
    access_token: str = Field(description="JWT to send as `Authorization: Bearer <token>`")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid")
    refresh_token: str | None = Field(
        None,
        description="Single-use refresh token (POST /api/v1/auth/refresh); absent when it was set as "
        "the HTTP-only `ems_refresh` cookie instead",
    )
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid if not used")
    user: UserOut

    @classmethod
    def of(cls, pair: TokenPair, include_refresh: bool = True) -> TokenResponse:
        return cls(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token if include_refresh else None,
            refresh_expires_in=pair.refresh_expires_in,
            user=UserOut.of(pair.user),
        )


class UserCreate(BaseModel):
    model_config = _REQUEST
    name: str = Field(
        min_length=1,
        max_length=64,
        description="User name: letters, digits, . _ @ -",
        json_schema_extra={"pattern": USER_NAME},
    )
    password: str = Field(
        min_length=1, max_length=MAX_LENGTH, description="Initial password (policy applies)"
    )
    role: Role = Field("viewer", description="admin: everything; operator: read + alert work; viewer: read")
    tenant: str | None = Field(
        None, description="Restrict the user to one tenant; null: every tenant", json_schema_extra=TENANT
    )


class UserUpdate(BaseModel):
    model_config = _REQUEST
    role: Role | None = Field(None, description="New role (refuses the user's older tokens)")
    password: str | None = Field(
        None, min_length=1, max_length=MAX_LENGTH, description="New password (refuses older tokens)"
    )
    disabled: bool | None = Field(None, description="Disable (tokens refused at once) or enable the user")
    tenant: str | None = Field(
        None, description="New tenant; null: every tenant; absent: unchanged", json_schema_extra=TENANT
    )

    def changes(self) -> dict[str, Any]:
        """Keyword arguments of `Authenticator.update_user` for the fields the request gave."""
        out = self.model_dump(include={"role", "password", "disabled"}, exclude_none=True)
        if "tenant" in self.model_fields_set:
            out["tenant"] = self.tenant
        return out


class KeyCreate(BaseModel):
    model_config = _REQUEST
    name: str = Field(
        min_length=1,
        max_length=100,
        description="What the key is for, e.g. prometheus-am",
        json_schema_extra={"pattern": KEY_NAME},
    )
    scopes: list[str] = Field(
        min_length=1,
        description="Permissions of the key, e.g. write:observations",
        json_schema_extra={"items": {"enum": sorted(PERMISSIONS)}},
    )
    tenant: str | None = Field(
        None, description="Restrict the key to one tenant; null: every tenant", json_schema_extra=TENANT
    )
    expires_at: AwareDatetime | None = Field(None, description="When the key stops working; null: never")
    owner: str | None = Field(None, description="Who is responsible for the key; default: its creator")


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key_id: str = Field(description="Public id of the key (the part after `ems_`)")
    name: str = Field(description="What the key is for")
    owner: str | None = Field(description="Who is responsible for the key")
    scopes: list[str] = Field(description="Permissions of the key")
    tenant: str | None = Field(description="The only tenant the key sees; null: every tenant")
    created_at: datetime = Field(description="When the key was created")
    expires_at: datetime | None = Field(description="When the key stops working; null: never")
    last_used_at: datetime | None = Field(description="Last use, to the minute; null: never used")
    revoked_at: datetime | None = Field(description="When the key was revoked; null: it is not")

    @classmethod
    def of(cls, key: KeyInfo) -> KeyOut:
        return cls.model_validate(key)


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself, `ems_<key_id>_<secret>`: shown this once, keep it safe")

    @classmethod
    def of_new(cls, key: KeyInfo, plaintext: str) -> KeyCreated:
        return cls.model_validate({**KeyOut.of(key).model_dump(), "key": plaintext})


class PrincipalOut(BaseModel):
    """Who the caller is (GET /api/v1/auth/me)."""

    name: str = Field(description="User name, or the key's name")
    kind: Literal["user", "key"] = Field(description="Authenticated as a user (token) or an API key")
    role: str | None = Field(description="The user's role; null for a key")
    tenant: str | None = Field(description="The only tenant visible; null: every tenant")
    permissions: list[str] = Field(description="What the caller may do (`admin` implies everything)")
    key_id: str | None = Field(None, description="The key's id, when authenticated by a key")
    expires_at: datetime | None = Field(None, description="When the access token expires (users)")


class UserList(BaseModel):
    users: list[UserOut] = Field(description="Every user, by name")


class KeyList(BaseModel):
    keys: list[KeyOut] = Field(description="Every key, revoked and expired ones included, oldest first")


class AuditQuery(BaseModel):
    model_config = _REQUEST
    limit: int = Field(100, ge=1, le=1000, description="How many of the newest entries")


class AuditEntry(BaseModel):
    at: datetime = Field(description="When the change was made")
    actor: str = Field(description="Who made it: a user, key:<name>, or cli:<os user>")
    action: str = Field(description="user.create, user.update, user.delete, key.create, key.revoke")
    target: str = Field(description="The user name or key id changed")
    detail: dict[str, Any] = Field(description="What changed (never a password or secret)")


class AuditList(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first")
