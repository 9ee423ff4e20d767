"""JSON-only bodies: what a cross-site form can post (text/plain, forms) is a 415 with a reason."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ems.api.edge import UnsupportedMediaType, require_json
from ems.api.errors import EXCEPTION_HANDLERS, ApiError


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
        "application/json; charset=us-ascii",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
def test_json_types_with_utf8_charsets_pass(content_type: str) -> None:
    require_json(content_type)


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("text/plain", "Content-Type 'text/plain' is not accepted here; send application/json"),
        ("text/plain; charset=utf-8", "Content-Type 'text/plain' is not accepted here"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded' is not accepted"),
        ("multipart/form-data; boundary=x", "'multipart/form-data' is not accepted"),
        ("text/json", "'text/json' is not accepted"),
        ("application/jsonx", "'application/jsonx' is not accepted"),
        ("json", "'json' is not accepted"),
        (
            "application/json; charset=iso-8859-1",
            "charset 'iso-8859-1' is not accepted: JSON bodies are UTF-8",
        ),
        (None, "Content-Type is missing; send application/json"),
        ("  ", "Content-Type is missing"),
    ],
)
def test_other_types_are_415_with_the_reason(content_type: str | None, reason: str) -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        require_json(content_type)
    assert err.value.status == 415 and reason in err.value.reason
    assert isinstance(err.value, ApiError)  # mapped by the API's ApiError handler


def test_a_route_names_its_own_types() -> None:
    require_json("application/x-ndjson", accepted=("application/x-ndjson", "application/json"))
    require_json("application/cloudevents+json", accepted=("application/*+json",))
    with pytest.raises(UnsupportedMediaType, match="send application/x-ndjson"):
        require_json("application/json", accepted=("application/x-ndjson",))


async def echo(request: Request) -> Response:
    strict = request.query_params.get("strict") == "1"
    require_json(request, allow_empty=not strict)
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


APP = Starlette(routes=[Route("/x", echo, methods=["POST", "DELETE"])], exception_handlers=EXCEPTION_HANDLERS)


async def post(**kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.request(**{"method": "POST", "url": "/x", **kwargs})  # type: ignore[arg-type]


async def test_through_a_route_a_form_post_is_refused_and_json_accepted() -> None:
    form = await post(data={"comment": "x"})
    assert form.status_code == 415
    assert orjson.loads(form.content) == {
        "error": "Content-Type 'application/x-www-form-urlencoded' is not accepted here; "
        "send application/json",
    }
    plain = await post(content=b'{"a": 1}', headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    assert (await post(json={"a": 1})).json() == {"bytes": 7}  # {"a":1}


async def test_a_body_without_content_type_is_refused_but_no_body_at_all_passes() -> None:
    assert (await post(content=b'{"a": 1}')).status_code == 415  # httpx sends Content-Length: 8
    assert (await post()).json() == {"bytes": 0}
    assert (await post(method="DELETE")).json() == {"bytes": 0}
    strict = await post(url="/x?strict=1")
    assert strict.status_code == 415 and "Content-Type is missing" in strict.json()["error"]
