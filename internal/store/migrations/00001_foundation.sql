-- +goose Up
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    roles         TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);

CREATE TABLE browser_sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    roles         TEXT NOT NULL DEFAULT '[]',
    auth_method   TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    id_token_hint TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

CREATE TABLE login_flows (
    state_hash    TEXT PRIMARY KEY,
    verifier      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    return_to     TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE providers (
    id                TEXT PRIMARY KEY,
    display_name      TEXT NOT NULL,
    type              TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    client_secret     TEXT,
    scopes            TEXT NOT NULL DEFAULT '[]',
    allowed_roles     TEXT NOT NULL DEFAULT '[]',
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    icon              TEXT NOT NULL DEFAULT '',
    custom_parameters TEXT NOT NULL DEFAULT '{}',
    discovery_url     TEXT NOT NULL DEFAULT '',
    metadata          TEXT NOT NULL DEFAULT '{}',
    settings          TEXT NOT NULL DEFAULT '{}',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- +goose Down
DROP TABLE providers;
DROP TABLE api_tokens;
DROP TABLE login_flows;
DROP TABLE browser_sessions;
DROP TABLE users;
