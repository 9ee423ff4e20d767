"""`GET /api/v1/tickets/groups`: the groups a ticket may be created with, answered from the settings
through the route table (not shadowed by `/api/v1/tickets/{number}`)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from ems.api.errors import EXCEPTION_HANDLERS
from ems.api.routing import starlette_routes
from ems.api.security.principal import ROLE_PERMISSIONS, Principal
from ems.api.table import ENDPOINTS
from ems.api.tickets import groups_of
from ems.settings import Settings

VIEWER = Principal("vic", "user", "viewer", ROLE_PERMISSIONS["viewer"], None)


class Viewer:
    async def authenticate(self, request: httpx.Request) -> Principal:
        return VIEWER


def test_the_default_group_is_one_of_the_groups() -> None:
    settings = Settings(ticket_groups={"storage": ["sam"], "network": []})
    want = {"default": "service-desk", "groups": ["network", "service-desk", "storage"]}
    assert groups_of(settings) == want
    assert groups_of(Settings(ticket_default_group="noc")) == {"default": "noc", "groups": ["noc"]}


async def test_a_viewer_reads_them_from_the_route_before_a_ticket_number() -> None:
    app = Starlette(routes=starlette_routes(ENDPOINTS), exception_handlers=EXCEPTION_HANDLERS)
    app.state.auth, app.state.settings = Viewer(), Settings(ticket_groups={"storage": ["sam"]})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.get("/api/v1/tickets/groups")
    assert r.status_code == 200, r.text
    assert r.json() == {"default": "service-desk", "groups": ["service-desk", "storage"]}
