package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// ChatSession is a conversation of one user with the agent.
type ChatSession struct {
	ID        string
	UserID    string
	Title     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ChatMessage is one stored message. Content is the agent's JSON encoding
// of the message; the store does not look inside.
type ChatMessage struct {
	SessionID string
	Seq       int64
	ID        string
	TurnID    string
	Role      string
	Content   json.RawMessage
	CreatedAt time.Time
}

// PausedTurn is a turn waiting for the user, with everything needed to
// continue it as the agent's JSON in State.
type PausedTurn struct {
	SessionID string
	TurnID    string
	State     json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Interrupt statuses.
const (
	InterruptPending   = "pending"
	InterruptResolved  = "resolved"
	InterruptDismissed = "dismissed"
	InterruptCancelled = "cancelled"
)

// Interrupt is one paused tool call waiting for the user's consent.
type Interrupt struct {
	ID         string
	SessionID  string
	TurnID     string
	ToolUseID  string
	MessageID  string
	ProviderID string
	ConsentID  string
	Kind       string
	Status     string
	CreatedAt  time.Time
}

// CreateChatSession stores a new session.
func (s *Store) CreateChatSession(ctx context.Context, cs *ChatSession) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO chat_sessions (id, user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
		cs.ID, cs.UserID, cs.Title, micros(cs.CreatedAt), micros(cs.UpdatedAt))
	return s.mapErr("create chat session", err)
}

// GetChatSession returns the session with id if it belongs to userID, or
// ErrNotFound, so that one user cannot learn another's session ids exist.
func (s *Store) GetChatSession(ctx context.Context, id, userID string) (*ChatSession, error) {
	var cs ChatSession
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `
		SELECT id, user_id, title, created_at, updated_at FROM chat_sessions WHERE id = $1 AND user_id = $2`, id, userID).
		Scan(&cs.ID, &cs.UserID, &cs.Title, &created, &updated)
	if err != nil {
		return nil, s.mapErr("get chat session", err)
	}
	cs.CreatedAt, cs.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &cs, nil
}

// ListChatSessions returns the user's sessions, most recently updated
// first, at most limit.
func (s *Store) ListChatSessions(ctx context.Context, userID string, limit int) ([]ChatSession, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, user_id, title, created_at, updated_at FROM chat_sessions
		WHERE user_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, s.mapErr("list chat sessions", err)
	}
	defer rows.Close()
	var out []ChatSession
	for rows.Next() {
		var cs ChatSession
		var created, updated int64
		if err := rows.Scan(&cs.ID, &cs.UserID, &cs.Title, &created, &updated); err != nil {
			return nil, s.mapErr("list chat sessions", err)
		}
		cs.CreatedAt, cs.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, cs)
	}
	return out, s.mapErr("list chat sessions", rows.Err())
}

// UpdateChatSession sets the title (when non-empty) and UpdatedAt.
func (s *Store) UpdateChatSession(ctx context.Context, id, title string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE chat_sessions SET title = CASE WHEN $2 = '' THEN title ELSE $2 END, updated_at = $3 WHERE id = $1`,
		id, title, micros(at))
	return requireOne("update chat session", res, err)
}

// AcquireTurn gives turnID the session's turn lease until until, if no
// other turn holds a live one at now. It reports whether it did.
func (s *Store) AcquireTurn(ctx context.Context, sessionID, turnID string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE chat_sessions SET active_turn_id = $2, active_turn_until = $4
		WHERE id = $1 AND (active_turn_id IS NULL OR active_turn_id = $2 OR active_turn_until <= $3)`,
		sessionID, turnID, micros(now), micros(until))
	n, err := affected("acquire turn", res, err)
	return n == 1, err
}

// ReleaseTurn drops turnID's lease on the session, if it still holds it.
func (s *Store) ReleaseTurn(ctx context.Context, sessionID, turnID string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE chat_sessions SET active_turn_id = NULL, active_turn_until = NULL
		WHERE id = $1 AND active_turn_id = $2`, sessionID, turnID)
	return s.mapErr("release turn", err)
}

// AppendChatMessages stores messages after the session's last one,
// assigning Seq, in one transaction.
func (s *Store) AppendChatMessages(ctx context.Context, sessionID string, msgs []ChatMessage) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM chat_messages WHERE session_id = $1`, sessionID).
			Scan(&last); err != nil {
			return s.mapErr("append chat messages", err)
		}
		for i := range msgs {
			m := &msgs[i]
			last++
			m.SessionID, m.Seq = sessionID, last
			_, err := tx.ExecContext(ctx, `
				INSERT INTO chat_messages (session_id, seq, id, turn_id, role, content, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				sessionID, m.Seq, m.ID, m.TurnID, m.Role, string(m.Content), micros(m.CreatedAt))
			if err != nil {
				return s.mapErr("append chat messages", err)
			}
		}
		return nil
	})
}

// ListChatMessages returns the session's messages in order.
func (s *Store) ListChatMessages(ctx context.Context, sessionID string) ([]ChatMessage, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT session_id, seq, id, turn_id, role, content, created_at FROM chat_messages
		WHERE session_id = $1 ORDER BY seq`, sessionID)
	if err != nil {
		return nil, s.mapErr("list chat messages", err)
	}
	defer rows.Close()
	var out []ChatMessage
	for rows.Next() {
		var m ChatMessage
		var content string
		var created int64
		if err := rows.Scan(&m.SessionID, &m.Seq, &m.ID, &m.TurnID, &m.Role, &content, &created); err != nil {
			return nil, s.mapErr("list chat messages", err)
		}
		m.Content, m.CreatedAt = json.RawMessage(content), fromMicros(created)
		out = append(out, m)
	}
	return out, s.mapErr("list chat messages", rows.Err())
}

// SavePausedTurn stores a paused turn and its pending interrupts in one
// transaction, replacing any earlier paused turn of the session (whose
// pending interrupts become cancelled).
func (s *Store) SavePausedTurn(ctx context.Context, p *PausedTurn, interrupts []Interrupt) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			UPDATE interrupts SET status = 'cancelled' WHERE session_id = $1 AND status = 'pending'`, p.SessionID); err != nil {
			return s.mapErr("save paused turn", err)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO paused_turns (session_id, turn_id, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (session_id) DO UPDATE SET turn_id = excluded.turn_id, state = excluded.state,
				created_at = excluded.created_at, expires_at = excluded.expires_at`,
			p.SessionID, p.TurnID, string(p.State), micros(p.CreatedAt), micros(p.ExpiresAt))
		if err != nil {
			return s.mapErr("save paused turn", err)
		}
		for _, in := range interrupts {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO interrupts (id, session_id, turn_id, tool_use_id, message_id, provider_id, consent_id, kind, status, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)`,
				in.ID, p.SessionID, p.TurnID, in.ToolUseID, in.MessageID, in.ProviderID, in.ConsentID, in.Kind, micros(in.CreatedAt))
			if err != nil {
				return s.mapErr("save paused turn", err)
			}
		}
		return nil
	})
}

// GetPausedTurn returns the session's paused turn, expired or not, or
// ErrNotFound.
func (s *Store) GetPausedTurn(ctx context.Context, sessionID string) (*PausedTurn, error) {
	var p PausedTurn
	var state string
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `
		SELECT session_id, turn_id, state, created_at, expires_at FROM paused_turns WHERE session_id = $1`, sessionID).
		Scan(&p.SessionID, &p.TurnID, &state, &created, &expires)
	if err != nil {
		return nil, s.mapErr("get paused turn", err)
	}
	p.State, p.CreatedAt, p.ExpiresAt = json.RawMessage(state), fromMicros(created), fromMicros(expires)
	return &p, nil
}

// TakePausedTurn removes the session's paused turn and returns it, marking
// its pending interrupts with status, in one transaction: of two
// concurrent resumes only one gets the turn. It returns ErrNotFound when
// there is none.
func (s *Store) TakePausedTurn(ctx context.Context, sessionID, status string) (*PausedTurn, error) {
	var p *PausedTurn
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var taken PausedTurn
		var state string
		var created, expires int64
		err := tx.QueryRowContext(ctx, `
			DELETE FROM paused_turns WHERE session_id = $1
			RETURNING session_id, turn_id, state, created_at, expires_at`, sessionID).
			Scan(&taken.SessionID, &taken.TurnID, &state, &created, &expires)
		if err != nil {
			return s.mapErr("take paused turn", err)
		}
		taken.State, taken.CreatedAt, taken.ExpiresAt = json.RawMessage(state), fromMicros(created), fromMicros(expires)
		if _, err := tx.ExecContext(ctx, `
			UPDATE interrupts SET status = $3 WHERE session_id = $1 AND turn_id = $2 AND status = 'pending'`,
			sessionID, taken.TurnID, status); err != nil {
			return s.mapErr("take paused turn", err)
		}
		p = &taken
		return nil
	})
	return p, err
}

// ListInterrupts returns the session's interrupts with the given status,
// oldest first.
func (s *Store) ListInterrupts(ctx context.Context, sessionID, status string) ([]Interrupt, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, session_id, turn_id, tool_use_id, message_id, provider_id, consent_id, kind, status, created_at
		FROM interrupts WHERE session_id = $1 AND status = $2 ORDER BY created_at, id`, sessionID, status)
	if err != nil {
		return nil, s.mapErr("list interrupts", err)
	}
	defer rows.Close()
	var out []Interrupt
	for rows.Next() {
		var in Interrupt
		var created int64
		if err := rows.Scan(&in.ID, &in.SessionID, &in.TurnID, &in.ToolUseID, &in.MessageID, &in.ProviderID,
			&in.ConsentID, &in.Kind, &in.Status, &created); err != nil {
			return nil, s.mapErr("list interrupts", err)
		}
		in.CreatedAt = fromMicros(created)
		out = append(out, in)
	}
	return out, s.mapErr("list interrupts", rows.Err())
}

// DismissInterrupt marks a pending interrupt of the session dismissed.
// Dismissing one that is not pending, or unknown, is not an error.
func (s *Store) DismissInterrupt(ctx context.Context, sessionID, interruptID string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE interrupts SET status = 'dismissed' WHERE session_id = $1 AND id = $2 AND status = 'pending'`,
		sessionID, interruptID)
	return s.mapErr("dismiss interrupt", err)
}
