-- Users, API keys and the audit of their changes (api/security/store.py). These rows are not derived
-- from Kafka, so a replay cannot rebuild them: `ems replay --swap` moves these tables into the rebuilt
-- schema instead. Secrets are stored only as hashes: argon2id for passwords, SHA-256 for key secrets.

CREATE TABLE users (
    name                text        PRIMARY KEY,
    password_hash       text        NOT NULL,
    role                text        NOT NULL,
    tenant              text,                   -- NULL: every tenant
    disabled            boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Tokens issued before this instant are refused (set on password, role, tenant or disabled change).
    tokens_valid_after  timestamptz
);

CREATE TABLE api_keys (
    key_id       text        PRIMARY KEY,       -- the public part of `ems_<key_id>_<secret>`
    name         text        NOT NULL,
    owner        text,                          -- who created it (informational)
    scopes       text[]      NOT NULL,          -- permissions (ems.api.security.principal)
    tenant       text,                          -- NULL: every tenant
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,                   -- NULL: never
    last_used_at timestamptz,                   -- updated at most once a minute
    revoked_at   timestamptz,
    secret_hash  text        NOT NULL           -- hex SHA-256 of the secret
);
CREATE INDEX api_keys_name ON api_keys (name);

CREATE TABLE audit_log (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,                -- user name, key:<name>, or cli:<os user>
    action text        NOT NULL,                -- user.create, user.update, key.revoke...
    target text        NOT NULL,
    detail jsonb       NOT NULL DEFAULT '{}'    -- what changed; never a secret
);
CREATE INDEX audit_log_at ON audit_log (at);
