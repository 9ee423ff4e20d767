"""Authentication and authorization of the API: users, roles, API keys, tokens and sessions.

- `principal`: permissions, roles and the `Principal` of a request;
- `authenticate`: `Authenticator` (credentials -> principal, login/refresh/logout, user/key admin);
- `errors`: `Unauthorized` (401), `Forbidden` (403), `NotFound` (404), `Conflict` (409), `Invalid` (400);
- `models`: the HTTP request/answer shapes; `cookies`: browser session cookies;
- `tokens` (JWT), `passwords` (argon2id), `keys` (API key format), `sessions` (Redis), `store` (PostgreSQL);
- `demo`: the demo's admin and ingest key.
"""
