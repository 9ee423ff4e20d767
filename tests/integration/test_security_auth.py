"""Authentication on real PostgreSQL and Redis: logins, refresh rotation and reuse, logout, disabled and
changed users, API keys (scopes, expiry, revocation, last use), a JWT secret shared through Redis, the
demo credentials and user/key management with its audit rows."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from ems.api.errors import Unavailable
from ems.api.security.authenticate import Authenticator
from ems.api.security.demo import ensure_demo_credentials
from ems.api.security.errors import Conflict, Invalid, NotFound, Unauthorized
from ems.api.security.tokens import TokenCodec
from ems.infra.migrate import drop_schema, migrate
from ems.settings import Settings
from ems.streams.heartbeat import redis_client

CHEAP = {"argon2_time_cost": "1", "argon2_memory_cost": "256", "argon2_parallelism": "1"}
PASSWORD = "correct horse battery"


@pytest.fixture
def settings(servers: dict[str, str]) -> Iterator[Settings]:
    """Settings of a fresh read-model schema (migrated) and Redis namespace; the schema is dropped after."""
    tag = uuid.uuid4().hex[:10]
    s = Settings.of_env({**servers, **{f"EMS_{k.upper()}": v for k, v in CHEAP.items()}})
    s = s.model_copy(update={"read_model_schema": f"auth_{tag}", "app_id": f"auth-{tag}"})
    url = s.database_url.get_secret_value()
    migrate(url, s.read_model_schema)
    yield s
    drop_schema(url, s.read_model_schema)


@contextlib.asynccontextmanager
async def authenticator(settings: Settings, **changes: object) -> AsyncIterator[Authenticator]:
    """An Authenticator on its own pool (dict rows, search_path = the schema) and Redis client."""
    settings = Settings(**{**settings.model_dump(), **changes})
    pool = AsyncConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=4,
        kwargs={"options": f"-c search_path={settings.read_model_schema}", "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True)
    redis = redis_client(settings)
    try:
        yield Authenticator(settings, pool, redis)
    finally:
        await pool.close()
        await redis.aclose()


def bearer(token: str) -> Request:
    return request({"authorization": f"Bearer {token}"})


def request(headers: dict[str, str], query: str = "") -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": query.encode()}
    )


async def refused(call: object, reason: str) -> None:
    with pytest.raises(Unauthorized) as info:
        await call  # type: ignore[misc]
    assert info.value.reason == reason and info.value.status == 401


def sql(settings: Settings, query: str, params: tuple = ()) -> list[tuple]:
    """A statement on the test's schema, from outside the Authenticator (what the rows say)."""
    with psycopg.connect(
        settings.database_url.get_secret_value(), options=f"-c search_path={settings.read_model_schema}"
    ) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


# -- logins and tokens ------------------------------------------------------------------------------------
async def test_login_gives_tokens_that_authenticate_as_the_user(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("Alice", PASSWORD, "operator", "acme", actor="admin")
        pair = await auth.login("  ALICE ", PASSWORD)
        assert (
            pair.user.name == "alice" and pair.expires_in == 28_800 and pair.refresh_expires_in == 2_592_000
        )
        who = await auth.authenticate(bearer(pair.access_token))
        assert (who.name, who.kind, who.role, who.tenant, who.actor) == (
            "alice",
            "user",
            "operator",
            "acme",
            "alice",
        )
        assert who.allows("write:alerts") and not who.allows("write:assets")
        cookie = request({"cookie": f"ems_access={pair.access_token}"})
        assert (await auth.authenticate(cookie)).name == "alice"
        assert await auth.authenticate(request({})) is None
        await refused(auth.authenticate(bearer(pair.refresh_token)), "not an access token")
        await refused(auth.authenticate(bearer(pair.access_token[:-3] + "abc")), "invalid token")


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("bob", PASSWORD, actor="admin")
        await refused(auth.login("bob", PASSWORD + "!"), "invalid name or password")
        await refused(auth.login("nobody", PASSWORD), "invalid name or password")
        await refused(auth.login("bob", "x" * 5000), "invalid name or password")
        await auth.update_user("bob", disabled=True, actor="admin")
        await refused(auth.login("bob", PASSWORD), "invalid name or password")


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("carol", PASSWORD, actor="admin")
        first = await auth.login("carol", PASSWORD)
        other = await auth.login("carol", PASSWORD)  # another session of the same user
        second = await auth.refresh(first.refresh_token)
        assert second.refresh.fam == first.refresh.fam and second.refresh.jti != first.refresh.jti
        assert (await auth.authenticate(bearer(second.access_token))).name == "carol"
        third = await auth.refresh(second.refresh_token)
        # the first token is presented again: a replay; the whole family ends, for everyone holding it
        await refused(auth.refresh(first.refresh_token), "refresh token already used: session revoked")
        await refused(auth.refresh(third.refresh_token), "token revoked")
        await refused(auth.authenticate(bearer(third.access_token)), "token revoked")
        await refused(auth.authenticate(bearer(first.access_token)), "token revoked")
        # the other session is untouched
        assert (await auth.authenticate(bearer(other.access_token))).name == "carol"
        assert (await auth.refresh(other.refresh_token)).user.name == "carol"


async def test_two_refreshes_racing_with_one_token_cannot_both_win(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("dave", PASSWORD, actor="admin")
        pair = await auth.login("dave", PASSWORD)
        results = await asyncio.gather(
            *(auth.refresh(pair.refresh_token) for _ in range(4)), return_exceptions=True
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1 and all(isinstance(r, Unauthorized) for r in results if r not in winners)
        # the losers were replays: the family is gone, the winner's tokens with it
        await refused(auth.refresh(winners[0].refresh_token), "token revoked")


async def test_logout_revokes_the_access_token_and_the_session(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("erin", PASSWORD, actor="admin")
        pair, other = await auth.login("erin", PASSWORD), await auth.login("erin", PASSWORD)
        who = await auth.authenticate(bearer(pair.access_token))
        await auth.logout(who, None)
        await refused(auth.authenticate(bearer(pair.access_token)), "token revoked")
        await refused(auth.refresh(pair.refresh_token), "token revoked")
        assert (await auth.authenticate(bearer(other.access_token))).name == "erin"
        # a browser whose access cookie expired logs out with its refresh cookie alone
        await auth.logout(None, other.refresh_token)
        await refused(auth.refresh(other.refresh_token), "token revoked")
        await refused(auth.authenticate(bearer(other.access_token)), "token revoked")
        ttl = await auth.redis.ttl(f"ems:{settings.app_id}:auth:revoked:{pair.access.jti}")
        assert 28_000 < ttl <= 28_801  # kept until the token's own expiry, not forever


async def test_disabled_changed_and_deleted_users_lose_their_tokens(settings) -> None:
    async with authenticator(settings) as auth:
        for name in ("frank", "grace", "heidi", "ivan"):
            await auth.create_user(name, PASSWORD, "operator", actor="admin")
        pairs = {n: await auth.login(n, PASSWORD) for n in ("frank", "grace", "heidi", "ivan")}
        await auth.update_user("frank", disabled=True, actor="admin")
        await auth.update_user("grace", password=PASSWORD + " v2", actor="admin")
        await auth.update_user("heidi", role="viewer", actor="admin")
        await auth.delete_user("ivan", actor="admin")
        for pair in pairs.values():
            await refused(auth.authenticate(bearer(pair.access_token)), "token revoked")
            await refused(auth.refresh(pair.refresh_token), "token revoked")
        # a new login after the change works, with the new password and role; re-enabling does not
        # bring back the tokens of before
        await refused(auth.login("grace", PASSWORD), "invalid name or password")
        assert (await auth.login("grace", PASSWORD + " v2")).user.name == "grace"
        heidi = await auth.authenticate(bearer((await auth.login("heidi", PASSWORD)).access_token))
        assert heidi.role == "viewer" and not heidi.allows("write:alerts")
        await auth.update_user("frank", disabled=False, actor="admin")
        await refused(auth.authenticate(bearer(pairs["frank"].access_token)), "token revoked")
        assert (await auth.login("frank", PASSWORD)).user.disabled is False


async def test_a_user_changing_its_own_password(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("judy", PASSWORD, actor="admin")
        pair = await auth.login("judy", PASSWORD)
        me = await auth.authenticate(bearer(pair.access_token))
        await refused(
            auth.change_password(me, "wrong password!", PASSWORD + " 2"), "current password is wrong"
        )
        with pytest.raises(Invalid, match="at least 12"):
            await auth.change_password(me, PASSWORD, "short")
        await auth.change_password(me, PASSWORD, PASSWORD + " 2")
        await refused(auth.authenticate(bearer(pair.access_token)), "token revoked")
        assert (await auth.login("judy", PASSWORD + " 2")).user.name == "judy"


async def test_api_processes_share_the_generated_jwt_secret_through_redis(settings) -> None:
    async with authenticator(settings) as a, authenticator(settings) as b:
        await a.create_user("kim", PASSWORD, actor="admin")
        from_b = await b.login("kim", PASSWORD)
        assert (await a.authenticate(bearer(from_b.access_token))).name == "kim"
        assert (await b.refresh((await a.login("kim", PASSWORD)).refresh_token)).user.name == "kim"
        # the secret is the namespace's, not a constant: another app's API refuses these tokens
        async with authenticator(settings, app_id=settings.app_id + "-other") as c:
            await refused(c.authenticate(bearer(from_b.access_token)), "invalid token")
        # a configured secret is used as is: what it signs verifies with that secret alone
        async with authenticator(settings, jwt_secret="k" * 40) as d:
            token = (await d.login("kim", PASSWORD)).access_token
            await refused(a.authenticate(bearer(token)), "invalid token")
        assert TokenCodec("k" * 40, "ems", 60, 60).verify(token, "access").sub == "kim"


async def test_a_login_rehashes_a_password_hashed_with_other_parameters(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("leo", PASSWORD, actor="admin")
    (old,) = sql(settings, "SELECT password_hash FROM users WHERE name = 'leo'")[0]
    async with authenticator(settings, argon2_time_cost=2) as auth:
        await auth.login("leo", PASSWORD)
    (new,) = sql(settings, "SELECT password_hash FROM users WHERE name = 'leo'")[0]
    assert "t=1" in old and "t=2" in new


# -- API keys -----------------------------------------------------------------------------------------------
async def test_a_key_authenticates_with_its_scopes_in_every_alerta_form(settings) -> None:
    async with authenticator(settings) as auth:
        info, key = await auth.create_key("alertmanager", ["write:observations"], "acme", actor="root")
        assert (
            key.startswith(f"ems_{info.key_id}_")
            and info.owner == "root"
            and info.scopes == ("write:observations",)
        )
        for req in (
            request({"authorization": f"Key {key}"}),
            request({"authorization": f"Bearer {key}"}),
            request({"x-api-key": key}),
            request({"api-key": key}),
            request({}, f"api-key={key}"),
        ):
            who = await auth.authenticate(req)
            assert (who.kind, who.name, who.key_id, who.tenant, who.actor) == (
                "key",
                "alertmanager",
                info.key_id,
                "acme",
                "key:alertmanager",
            )
            assert who.allows("write:observations") and not who.allows("read:alerts")
        # nothing but the hash of the secret is stored
        (stored,) = sql(settings, "SELECT secret_hash FROM api_keys")[0]
        assert key.split("_", 2)[2] not in stored and len(stored) == 64


async def test_unknown_forged_expired_and_revoked_keys_are_refused(settings) -> None:
    async with authenticator(settings) as auth:
        info, key = await auth.create_key("ci", ["read:alerts"], actor="root")
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        await refused(auth.authenticate(request({"x-api-key": forged})), "invalid API key")
        await refused(
            auth.authenticate(request({"x-api-key": "ems_" + "0" * 16 + "_" + "a" * 43})), "invalid API key"
        )
        await refused(auth.authenticate(request({"x-api-key": "client-42"})), "invalid API key")
        sql(settings, "UPDATE api_keys SET expires_at = now() - interval '1 second'")
        await refused(auth.authenticate(request({"x-api-key": key})), "API key expired")
        sql(settings, "UPDATE api_keys SET expires_at = now() + interval '1 hour'")
        assert (await auth.authenticate(request({"x-api-key": key}))).name == "ci"
        revoked = await auth.revoke_key(info.key_id, actor="root")
        assert revoked.revoked_at is not None
        await refused(auth.authenticate(request({"x-api-key": key})), "API key revoked")
        assert (await auth.revoke_key(info.key_id, actor="root")).revoked_at == revoked.revoked_at
        with pytest.raises(NotFound):
            await auth.revoke_key("f" * 16, actor="root")


async def test_key_creation_refuses_unknown_scopes_and_past_expiry(settings) -> None:
    async with authenticator(settings) as auth:
        with pytest.raises(Invalid, match="unknown scope\\(s\\): write:everything"):
            await auth.create_key("k", ["read:alerts", "write:everything"], actor="root")
        with pytest.raises(Invalid, match="in the past"):
            await auth.create_key(
                "k", ["read:alerts"], expires_at=datetime.now(UTC) - timedelta(1), actor="root"
            )
        with pytest.raises(Invalid, match="key name"):
            await auth.create_key("no spaces", ["read:alerts"], actor="root")
        assert await auth.list_keys() == []


async def test_last_used_is_written_at_most_once_a_minute(settings) -> None:
    async with authenticator(settings) as auth:
        info, key = await auth.create_key("ingest", ["write:observations"], actor="root")
        assert info.last_used_at is None
        await auth.authenticate(request({"x-api-key": key}))
        (first,) = sql(settings, "SELECT last_used_at FROM api_keys")[0]
        assert first is not None
        for _ in range(5):
            await auth.authenticate(request({"x-api-key": key}))
        assert sql(settings, "SELECT last_used_at FROM api_keys")[0][0] == first
        sql(settings, "UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds'")
        await auth.authenticate(request({"x-api-key": key}))
        assert sql(settings, "SELECT last_used_at FROM api_keys")[0][0] > first
        (listed,) = await auth.list_keys()
        assert listed.last_used_at is not None


async def test_without_redis_keys_still_work_and_tokens_answer_503(settings) -> None:
    async with authenticator(settings) as auth:
        await auth.create_user("mallory", PASSWORD, actor="admin")
        token = (await auth.login("mallory", PASSWORD)).access_token
        _, key = await auth.create_key("ingest", ["write:observations"], actor="root")
    async with authenticator(settings, redis_url="redis://127.0.0.1:1/0", jwt_secret=None) as down:
        assert (await down.authenticate(request({"x-api-key": key}))).name == "ingest"
        for call in (down.authenticate(bearer(token)), down.login("mallory", PASSWORD)):
            with pytest.raises(Unavailable, match="Redis is unavailable"):
                await call


# -- user and key management -----------------------------------------------------------------------------
async def test_user_management_checks_and_audits(settings) -> None:
    async with authenticator(settings) as auth:
        root = await auth.create_user("root", PASSWORD, "admin", actor="cli:ops")
        assert root.role == "admin" and root.tenant is None and not root.disabled
        with pytest.raises(Conflict, match="exists"):
            await auth.create_user("ROOT", PASSWORD, actor="cli:ops")
        with pytest.raises(Invalid, match="at least 12"):
            await auth.create_user("nina", "short", actor="root")
        with pytest.raises(Invalid, match="unknown role"):
            await auth.create_user("nina", PASSWORD, "superuser", actor="root")
        with pytest.raises(NotFound):
            await auth.update_user("ghost", role="viewer", actor="root")
        with pytest.raises(NotFound):
            await auth.get_user("ghost")
        # the last enabled admin stays
        for change in ({"role": "viewer"}, {"disabled": True}):
            with pytest.raises(Conflict, match="last enabled admin"):
                await auth.update_user("root", **change, actor="root")
        with pytest.raises(Conflict, match="last enabled admin"):
            await auth.delete_user("root", actor="root")
        await auth.create_user("olga", PASSWORD, "admin", "acme", actor="root")
        await auth.update_user("root", role="operator", actor="olga")
        olga = await auth.update_user("olga", tenant=None, actor="olga")
        assert olga.tenant is None
        assert [u.name for u in await auth.list_users()] == ["olga", "root"]
        await auth.delete_user("root", actor="olga")
        with pytest.raises(NotFound):
            await auth.delete_user("root", actor="olga")
        rows = await auth.audit_log()
        assert [(r["actor"], r["action"], r["target"]) for r in reversed(rows)] == [
            ("cli:ops", "user.create", "root"),
            ("root", "user.create", "olga"),
            ("olga", "user.update", "root"),
            ("olga", "user.update", "olga"),
            ("olga", "user.delete", "root"),
        ]
        assert rows[2]["detail"] == {"role": "operator"} and rows[1]["detail"] == {"tenant": None}
        await auth.update_user("olga", password=PASSWORD + " new", actor="olga")
        assert (await auth.audit_log(1))[0]["detail"] == {"password": "changed"}
        everything = str(sql(settings, "SELECT * FROM audit_log"))
        assert PASSWORD not in everything and "argon2" not in everything


async def test_demo_credentials_are_made_then_renewed(settings) -> None:
    async with authenticator(settings) as auth:
        name, password, key = await ensure_demo_credentials(auth)
        assert name == "demo-admin"
        assert (await auth.login(name, password)).user.role == "admin"
        assert (await auth.authenticate(request({"x-api-key": key}))).permissions == {"write:observations"}
        again_name, again_password, again_key = await ensure_demo_credentials(auth)
        assert again_name == name and again_password != password and again_key != key
        await refused(auth.login(name, password), "invalid name or password")
        assert (await auth.login(name, again_password)).user.name == name
        await refused(auth.authenticate(request({"x-api-key": key})), "API key revoked")
        assert (await auth.authenticate(request({"x-api-key": again_key}))).name == "demo-ingest"


async def test_a_replay_swap_keeps_users_keys_and_audit(settings) -> None:
    """Users and keys are not on any topic: `ems replay --swap` must carry them over, not rebuild them."""
    from ems.replay import swap_schemas

    async with authenticator(settings) as auth:
        await auth.create_user("pat", PASSWORD, "admin", actor="admin")
        _, key = await auth.create_key("ingest", ["write:observations"], actor="pat")
    url, live = settings.database_url.get_secret_value(), settings.read_model_schema
    rebuilt = f"{live}_rebuild"
    migrate(url, rebuilt)  # what `ems replay` builds: fresh tables, empty users
    old = swap_schemas(url, live, rebuilt)
    try:
        assert sql(settings, "SELECT count(*) FROM audit_log") == [(2,)]
        async with authenticator(settings) as auth:
            assert (await auth.login("pat", PASSWORD)).user.name == "pat"
            assert (await auth.authenticate(request({"x-api-key": key}))).name == "ingest"
            await auth.create_user("quinn", PASSWORD, actor="pat")  # the identity sequence came along
        assert len(sql(settings, "SELECT id FROM audit_log")) == 3
    finally:
        drop_schema(url, old)


# -- reuse of verified keys (ems.api.security.key_notices) -------------------------------------------------
async def until(check, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def listening(auth: Authenticator) -> AsyncIterator[None]:
    task = asyncio.create_task(auth.notices.run())
    try:
        await until(lambda: auth.notices.live)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_verified_key_is_reused_until_a_revocation_reaches_every_process(settings) -> None:
    async with authenticator(settings) as auth, authenticator(settings) as other, listening(auth):
        info, key = await other.create_key("ingest", ["read:alerts"], actor="root")
        assert (await auth.authenticate(request({"x-api-key": key}))).allows("read:alerts")
        # Changed by hand, without a notice: the verification is reused (no lookup sees the change).
        sql(settings, "UPDATE api_keys SET scopes = '{write:observations}'")
        assert (await auth.authenticate(request({"x-api-key": key}))).allows("read:alerts")
        await refused(auth.authenticate(request({"x-api-key": key[:-4] + "AAAA"})), "invalid API key")
        # Revoked through another process: its notice makes this one look the key up again.
        seen = auth.notices.notices
        await other.revoke_key(info.key_id, actor="root")
        await until(lambda: auth.notices.notices > seen, 2.0)
        await refused(auth.authenticate(request({"x-api-key": key})), "API key revoked")


async def test_while_not_listening_every_request_looks_its_key_up(settings) -> None:
    async with authenticator(settings) as auth, listening(auth):
        _, key = await auth.create_key("ingest", ["read:alerts"], actor="root")
        await auth.authenticate(request({"x-api-key": key}))
        first = auth.notices.backend_pid
        sql(settings, "SELECT pg_terminate_backend(%s)", (first,))
        await until(lambda: not auth.notices.live)
        sql(settings, "UPDATE api_keys SET scopes = '{write:observations}'")
        who = await auth.authenticate(request({"x-api-key": key}))
        assert who.allows("write:observations") and not who.allows("read:alerts")
        # Listening again (a new connection): what was verified before it is looked up once more.
        await until(lambda: auth.notices.live and auth.notices.backend_pid != first)
        sql(settings, "UPDATE api_keys SET scopes = '{read:alerts}'")
        assert (await auth.authenticate(request({"x-api-key": key}))).allows("read:alerts")


async def test_with_no_reuse_configured_nothing_listens(settings) -> None:
    async with authenticator(settings, api_key_cache=0) as auth:
        await asyncio.wait_for(auth.notices.run(), 1)  # returns at once
        _, key = await auth.create_key("ingest", ["read:alerts"], actor="root")
        await auth.authenticate(request({"x-api-key": key}))
        sql(settings, "UPDATE api_keys SET scopes = '{write:observations}'")
        assert (await auth.authenticate(request({"x-api-key": key}))).allows("write:observations")
