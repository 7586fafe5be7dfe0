package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AuditEvent is one entry of the audit trail. Detail never holds a secret.
type AuditEvent struct {
	// ID sorts by time: callers build it from the event time and random
	// bits, so that paging by ID is paging by time.
	ID         string
	At         time.Time
	Action     string
	ActorID    string
	UserID     string
	ProviderID string
	Outcome    string
	Detail     json.RawMessage
}

// AuditFilter selects audit events. Zero fields match everything.
type AuditFilter struct {
	Action     string
	ActorID    string
	UserID     string
	ProviderID string
	Outcome    string
	Since      time.Time
	Until      time.Time
	// Before returns only events with an ID below it: the cursor for the
	// next page, newest first.
	Before string
	Limit  int
}

// AppendAudit stores an audit event.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent) error {
	detail, err := jsonText(e.Detail)
	if err != nil {
		return s.mapErr("append audit", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO audit_events (id, at, action, actor_id, user_id, provider_id, outcome, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, micros(e.At), e.Action, e.ActorID, e.UserID, e.ProviderID, e.Outcome, detail)
	return s.mapErr("append audit", err)
}

// ListAudit returns events matching f, newest first, at most f.Limit
// (which must be positive).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 {
		return nil, fmt.Errorf("store: list audit: limit %d, want > 0", f.Limit)
	}
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	for _, eq := range []struct{ column, value string }{
		{"action", f.Action}, {"actor_id", f.ActorID}, {"user_id", f.UserID},
		{"provider_id", f.ProviderID}, {"outcome", f.Outcome},
	} {
		if eq.value != "" {
			add(eq.column+" = $%d", eq.value)
		}
	}
	if !f.Since.IsZero() {
		add("at >= $%d", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < $%d", micros(f.Until))
	}
	if f.Before != "" {
		add("id < $%d", f.Before)
	}
	query := `SELECT id, at, action, actor_id, user_id, provider_id, outcome, detail FROM audit_events`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.mapErr("list audit", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var at int64
		var detail string
		if err := rows.Scan(&e.ID, &at, &e.Action, &e.ActorID, &e.UserID, &e.ProviderID, &e.Outcome, &detail); err != nil {
			return nil, s.mapErr("list audit", err)
		}
		e.At, e.Detail = fromMicros(at), json.RawMessage(detail)
		out = append(out, e)
	}
	return out, s.mapErr("list audit", rows.Err())
}
