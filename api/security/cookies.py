"""Session cookies for browsers: `ems_access` (every path) and `ems_refresh` (only `/api/v1/auth`).

Both are HTTP-only (no script reads them), SameSite `EMS_COOKIE_SAMESITE` (default lax: not sent
with cross-site POSTs, so a foreign page cannot act with them), and Secure unless
`EMS_COOKIE_SECURE=false` (for plain-HTTP demos). The refresh cookie's path keeps it off every
request but the auth endpoints.
"""

from __future__ import annotations

from starlette.responses import Response

from ems.api.security.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from ems.api.security.tokens import TokenPair
from ems.settings import Settings

REFRESH_PATH = "/api/v1/auth"


def set_session_cookies(response: Response, pair: TokenPair, settings: Settings) -> None:
    common = {"httponly": True, "secure": settings.cookie_secure, "samesite": settings.cookie_samesite}
    response.set_cookie(ACCESS_COOKIE, pair.access_token, max_age=pair.expires_in, path="/", **common)
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token, max_age=pair.refresh_expires_in, path=REFRESH_PATH, **common
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    common = {"httponly": True, "secure": settings.cookie_secure, "samesite": settings.cookie_samesite}
    response.delete_cookie(ACCESS_COOKIE, path="/", **common)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, **common)
