"""HTTP routes of authentication and of user/key management, as entries of the route table.

    POST /api/v1/auth/login     public         name + password -> tokens (cookies for browsers)
    POST /api/v1/auth/refresh   public         a refresh token (body or cookie) -> a new pair; single use
    POST /api/v1/auth/logout    public         ends the session of the token / refresh token presented
    GET  /api/v1/auth/me        authenticated  who the caller is and what it may do
    POST /api/v1/auth/password  authenticated  a user changes its own password (its sessions end)
    /api/v1/users[/{name}]      admin          list, create, read, change, delete users
    /api/v1/keys[/{key_id}]     admin          list, create (the key is shown once), revoke keys
    GET  /api/v1/audit          admin          the newest user/key changes

Refresh and logout are public so that a client whose access token expired can still use its refresh
token; what they act on is proven by that token. Answers that carry a secret say `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ems.api.responses import JSON
from ems.api.routing import AUTHENTICATED, PUBLIC, Call, Endpoint
from ems.api.security.cookies import clear_session_cookies, set_session_cookies
from ems.api.security.credentials import REFRESH_COOKIE
from ems.api.security.errors import Invalid
from ems.api.security.models import (
    AuditEntry,
    AuditList,
    AuditQuery,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    PrincipalOut,
    RefreshRequest,
    TokenResponse,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
)
from ems.api.security.tokens import TokenPair

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(call: Call, pair: TokenPair, cookies: bool) -> Response:
    """The pair as the answer: in cookies (and the access token in the body) or all in the body."""
    body = TokenResponse.of(pair, include_refresh=not cookies).model_dump(mode="json")
    response = JSON(body, headers=NO_STORE)
    if cookies:
        set_session_cookies(response, pair, call.settings)
    return response


# -- sessions --------------------------------------------------------------------------------------
async def login(call: Call) -> Response:
    body: LoginRequest = call.body
    pair = await call.state.auth.login(body.name, body.password)
    return _tokens(call, pair, body.cookies)


async def refresh(call: Call) -> Response:
    body: RefreshRequest | None = call.body
    token = body.refresh_token if body is not None else None
    from_cookie = token is None
    if from_cookie:
        token = call.request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Invalid(f"no refresh token: give refresh_token in the body or send the {REFRESH_COOKIE} cookie")
    pair = await call.state.auth.refresh(token)
    return _tokens(call, pair, cookies=from_cookie)


async def logout(call: Call) -> Response:
    body: LogoutRequest | None = call.body
    token = (body.refresh_token if body is not None else None) or call.request.cookies.get(REFRESH_COOKIE)
    await call.state.auth.logout(call.principal, token)
    response = JSON({"status": "logged out"})
    clear_session_cookies(response, call.settings)
    return response


async def me(call: Call) -> PrincipalOut:
    p = call.principal
    return PrincipalOut(
        name=p.name,
        kind=p.kind,
        role=p.role,
        tenant=p.tenant,
        permissions=sorted(p.permissions),
        key_id=p.key_id,
        expires_at=None if p.token is None else p.token.exp,
    )


async def change_password(call: Call) -> Response:
    body: PasswordChange = call.body
    user = await call.state.auth.change_password(call.principal, body.current_password, body.new_password)
    response = JSON(UserOut.of(user).model_dump(mode="json"))
    clear_session_cookies(response, call.settings)  # every session of the user ended: log in again
    return response


# -- users -----------------------------------------------------------------------------------------
async def list_users(call: Call) -> UserList:
    return UserList(users=[UserOut.of(u) for u in await call.state.auth.list_users()])


async def create_user(call: Call) -> UserOut:
    b: UserCreate = call.body
    return UserOut.of(
        await call.state.auth.create_user(b.name, b.password, b.role, b.tenant, actor=call.actor)
    )


async def get_user(call: Call) -> UserOut:
    return UserOut.of(await call.state.auth.get_user(call.path["name"]))


async def update_user(call: Call) -> UserOut:
    changes: dict[str, Any] = call.body.changes()
    return UserOut.of(await call.state.auth.update_user(call.path["name"], **changes, actor=call.actor))


async def delete_user(call: Call) -> Response:
    await call.state.auth.delete_user(call.path["name"], actor=call.actor)
    return Response(status_code=204)


# -- keys and audit --------------------------------------------------------------------------------
async def list_keys(call: Call) -> KeyList:
    return KeyList(keys=[KeyOut.of(k) for k in await call.state.auth.list_keys()])


async def create_key(call: Call) -> Response:
    b: KeyCreate = call.body
    info, key = await call.state.auth.create_key(
        b.name, b.scopes, b.tenant, b.expires_at, b.owner, actor=call.actor
    )
    return JSON(KeyCreated.of_new(info, key).model_dump(mode="json"), status_code=201, headers=NO_STORE)


async def revoke_key(call: Call) -> KeyOut:
    return KeyOut.of(await call.state.auth.revoke_key(call.path["key_id"], actor=call.actor))


async def audit(call: Call) -> AuditList:
    rows = await call.state.auth.audit_log(call.query.limit)
    return AuditList(entries=[AuditEntry.model_validate(r) for r in rows])


BAD_LOGIN = {401: "invalid name or password (the same answer whether the user exists or not)"}
ADMIN = {"permission": "admin"}
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        login,
        permission=PUBLIC,
        summary="Log in with a name and password: an access token and a single-use refresh token",
        body=LoginRequest,
        response=TokenResponse,
        responses=BAD_LOGIN,
        tags=("auth",),
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/refresh",
        refresh,
        permission=PUBLIC,
        summary="Trade the current refresh token for a new pair (a used one ends the whole session)",
        body=RefreshRequest,
        body_required=False,
        response=TokenResponse,
        responses={400: "no refresh token given", 401: "expired, revoked or already used"},
        tags=("auth",),
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/logout",
        logout,
        permission=PUBLIC,
        summary="End the session: the access token and its refresh tokens are revoked, cookies cleared",
        body=LogoutRequest,
        body_required=False,
        response=dict[str, str],
        tags=("auth",),
    ),
    Endpoint(
        "GET",
        "/api/v1/auth/me",
        me,
        permission=AUTHENTICATED,
        summary="Who the caller is: user or key, role, tenant, permissions",
        response=PrincipalOut,
        tags=("auth",),
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/password",
        change_password,
        permission=AUTHENTICATED,
        summary="Change one's own password; every session of the user ends (log in again)",
        body=PasswordChange,
        response=UserOut,
        responses={400: "the new password breaks the policy", 401: "the current password is wrong"},
        tags=("auth",),
    ),
    Endpoint(
        "GET", "/api/v1/users", list_users, summary="List users", response=UserList, tags=("users",), **ADMIN
    ),
    Endpoint(
        "POST",
        "/api/v1/users",
        create_user,
        summary="Create a user",
        body=UserCreate,
        response=UserOut,
        status=201,
        responses={400: "bad name, tenant or password", 409: "a user of that name exists"},
        tags=("users",),
        **ADMIN,
    ),
    Endpoint(
        "GET",
        "/api/v1/users/{name}",
        get_user,
        summary="One user",
        response=UserOut,
        responses={404: "no such user"},
        tags=("users",),
        **ADMIN,
    ),
    Endpoint(
        "PATCH",
        "/api/v1/users/{name}",
        update_user,
        summary="Change a user's role, tenant, password or disabled flag (its older tokens are refused)",
        body=UserUpdate,
        response=UserOut,
        responses={
            400: "bad tenant or password",
            404: "no such user",
            409: "the last enabled admin cannot be demoted or disabled",
        },
        tags=("users",),
        **ADMIN,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/users/{name}",
        delete_user,
        summary="Delete a user (its tokens are refused at once)",
        status=204,
        responses={404: "no such user", 409: "the last enabled admin cannot be deleted"},
        tags=("users",),
        **ADMIN,
    ),
    Endpoint(
        "GET", "/api/v1/keys", list_keys, summary="List API keys", response=KeyList, tags=("keys",), **ADMIN
    ),
    Endpoint(
        "POST",
        "/api/v1/keys",
        create_key,
        summary="Create an API key; the answer holds the key, shown this once",
        body=KeyCreate,
        response=KeyCreated,
        status=201,
        responses={400: "bad name, unknown scope or past expiry"},
        tags=("keys",),
        **ADMIN,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/keys/{key_id}",
        revoke_key,
        summary="Revoke an API key (refused at once by every API process)",
        response=KeyOut,
        responses={404: "no such key"},
        tags=("keys",),
        **ADMIN,
    ),
    Endpoint(
        "GET",
        "/api/v1/audit",
        audit,
        summary="The newest changes of users and keys: who, what, when",
        query=AuditQuery,
        response=AuditList,
        tags=("users", "keys"),
        **ADMIN,
    ),
]
