-- +goose Up
-- A consent is one authorization code + PKCE flow started for a user and a
-- provider. state_hash is set when /connect sends the browser to the
-- provider; state_used_at makes the state single-use.
CREATE TABLE consents (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    provider_id       TEXT NOT NULL,
    scopes            TEXT NOT NULL DEFAULT '[]',
    return_url        TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    error             TEXT NOT NULL DEFAULT '',
    error_description TEXT NOT NULL DEFAULT '',
    state_hash        TEXT UNIQUE,
    state_used_at     BIGINT,
    verifier          TEXT,
    nonce             TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX consents_user_provider ON consents (user_id, provider_id, status);

-- One row per (user, provider): the vault. generation increases with every
-- write of new tokens; refreshes compare-and-swap on it. lease_* let one
-- replica at a time refresh.
CREATE TABLE tokens (
    user_id       TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    access_token  TEXT,
    refresh_token TEXT,
    token_type    TEXT NOT NULL DEFAULT 'Bearer',
    expires_at    BIGINT,
    scopes        TEXT NOT NULL DEFAULT '[]',
    extras        TEXT,
    generation    BIGINT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    lease_holder  TEXT,
    lease_until   BIGINT,
    connected_at  BIGINT NOT NULL,
    refreshed_at  BIGINT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, provider_id)
);
CREATE INDEX tokens_provider ON tokens (provider_id);

-- Revocations that failed at the provider, retried with backoff.
CREATE TABLE revocations (
    id              TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    token           TEXT NOT NULL,
    token_type_hint TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX revocations_due ON revocations (next_attempt_at);

-- The audit trail. ids sort by time; detail is JSON and never holds a
-- secret.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    action      TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    user_id     TEXT NOT NULL DEFAULT '',
    provider_id TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE revocations;
DROP TABLE tokens;
DROP TABLE consents;
