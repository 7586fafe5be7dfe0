-- +goose Up
-- Chat sessions belong to one user. active_turn_* is a lease: the replica
-- running a turn holds it, so a session never runs two turns at once.
CREATE TABLE chat_sessions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    title             TEXT NOT NULL DEFAULT '',
    active_turn_id    TEXT,
    active_turn_until BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX chat_sessions_user ON chat_sessions (user_id, updated_at);

-- Messages in order. content is the JSON of the message: text, tool calls,
-- tool results.
CREATE TABLE chat_messages (
    session_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    id         TEXT NOT NULL,
    turn_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- At most one paused turn per session: everything needed to continue it.
CREATE TABLE paused_turns (
    session_id TEXT PRIMARY KEY,
    turn_id    TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Interrupts raised by paused turns, one per interrupted tool call.
CREATE TABLE interrupts (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    turn_id     TEXT NOT NULL,
    tool_use_id TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    consent_id  TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT 'oauth_required',
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX interrupts_session ON interrupts (session_id, status);

-- +goose Down
DROP TABLE interrupts;
DROP TABLE paused_turns;
DROP TABLE chat_messages;
DROP TABLE chat_sessions;
