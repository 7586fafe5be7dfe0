-- +goose Up
-- An MCP server registered by an admin. headers is a sealed JSON object of
-- static request headers; header_names lists its names in plaintext so
-- that views need not open it. provider_id names the provider whose user
-- token is sent as bearer token, or is empty. It is not a foreign key,
-- because deleting a provider must not fail on the servers that use it:
-- calls to such a server fail until an admin changes provider_id.
--
-- tools caches the server's tool catalog as a JSON array, written by the
-- last successful fetch at tools_fetched_at.
CREATE TABLE mcp_servers (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    url              TEXT NOT NULL,
    transport        TEXT NOT NULL,
    provider_id      TEXT NOT NULL DEFAULT '',
    headers          TEXT,
    header_names     TEXT NOT NULL DEFAULT '[]',
    allowed_roles    TEXT NOT NULL DEFAULT '[]',
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    timeout_ms       BIGINT NOT NULL,
    tools            TEXT NOT NULL DEFAULT '[]',
    tools_fetched_at BIGINT,
    last_error       TEXT NOT NULL DEFAULT '',
    last_error_at    BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- +goose Down
DROP TABLE mcp_servers;
