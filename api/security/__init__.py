"""Authentication and authorization of the API: users, roles, API keys, tokens and sessions.

- `principal`: permissions, roles and the `Principal` of a request;
- `authenticate`: `Authenticator` (credentials -> principal, login/refresh/logout) with `accounts`
  (user/key management, audited);
- `errors`: `Unauthorized` (401), `Forbidden` (403), `NotFound` (404), `Conflict` (409), `Invalid` (400);
- `routes`: the HTTP routes (`ENDPOINTS` of the route table), with `models` (request/answer shapes) and
  `cookies` (browser session cookies); `credentials`: where a request carries its credential;
- `tokens` (JWT), `passwords` (argon2id), `keys` (API key format), `sessions` (Redis), `store` (PostgreSQL);
- `recent_keys`: keys verified lately, accepted while PostgreSQL is unreachable;
- `demo`: the demo's admin and ingest key.
Production: set `EMS_JWT_SECRET` (at least 32 bytes) and serve over HTTPS (cookies are Secure).
"""
