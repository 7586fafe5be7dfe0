package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/store"
)

// AuditLister reads the audit trail. *store.Store implements it.
type AuditLister interface {
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
}

var _ AuditLister = (*store.Store)(nil)

// Limits of GET /api/v1/admin/audit.
const (
	defaultAuditLimit = 50
	maxAuditLimit     = 200
	maxAuditIDLen     = 256
)

var (
	// auditActionPattern matches audit action names such as refresh_ok.
	auditActionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// auditCursorPattern matches an event id, which the audit package
	// builds from 16 hex digits of time and 8 random ones.
	auditCursorPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)
)

// routeAudit registers the admin route that reads the audit trail,
// behind Options.RequireAdmin.
func (s *Server) routeAudit() {
	admin := s.opts.RequireAdmin
	if admin == nil {
		admin = rejectAdmin
	}
	s.route("GET /api/v1/admin/audit", admin(s.handle(s.listAudit)))
}

// auditEventView is one event as the API returns it.
type auditEventView struct {
	ID         string          `json:"id"`
	At         time.Time       `json:"at"`
	Action     string          `json:"action"`
	ActorID    string          `json:"actor_id"`
	UserID     string          `json:"user_id"`
	ProviderID string          `json:"provider_id"`
	Outcome    string          `json:"outcome"`
	Detail     json.RawMessage `json:"detail"`
}

// listAudit serves GET /api/v1/admin/audit: events newest first, one
// page at a time. next_cursor, present when more events match, is the
// cursor of the next page.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	filter, err := parseAuditFilter(r)
	if err != nil {
		return err
	}

	// One event more than the page shows whether another page follows.
	limit := filter.Limit
	filter.Limit++
	events, err := s.opts.Audit.ListAudit(r.Context(), filter)
	if err != nil {
		return err
	}

	body := struct {
		Events     []auditEventView `json:"events"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}{Events: make([]auditEventView, 0, min(len(events), limit))}
	if len(events) > limit {
		events = events[:limit]
		body.NextCursor = events[limit-1].ID
	}
	for _, e := range events {
		detail := e.Detail
		if len(detail) == 0 {
			detail = json.RawMessage("{}")
		}
		body.Events = append(body.Events, auditEventView{
			ID: e.ID, At: e.At, Action: e.Action, ActorID: e.ActorID, UserID: e.UserID,
			ProviderID: e.ProviderID, Outcome: e.Outcome, Detail: detail,
		})
	}
	return writeJSON(w, http.StatusOK, body)
}

// parseAuditFilter reads the query parameters of the audit route. An
// unknown, repeated or invalid parameter is a 400 that names it.
func parseAuditFilter(r *http.Request) (store.AuditFilter, error) {
	f := store.AuditFilter{Limit: defaultAuditLimit}
	query := r.URL.Query()
	for name, values := range query {
		switch name {
		case "action", "user_id", "provider_id", "actor_id", "outcome", "since", "until", "limit", "cursor":
		default:
			return f, problem.BadRequest(name, "unknown query parameter; use action, user_id, provider_id, actor_id, outcome, since, until, limit or cursor")
		}
		if len(values) > 1 {
			return f, problem.BadRequest(name, "given more than once; send it once")
		}
	}

	if v := query.Get("action"); v != "" {
		if !auditActionPattern.MatchString(v) {
			return f, problem.BadRequest("action", "must be an action name such as refresh_ok: lowercase letters, digits and '_'")
		}
		f.Action = v
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"user_id", &f.UserID}, {"provider_id", &f.ProviderID}, {"actor_id", &f.ActorID}} {
		v := query.Get(p.name)
		if len(v) > maxAuditIDLen || !printable(v) {
			return f, problem.BadRequest(p.name, fmt.Sprintf("must be at most %d printable characters", maxAuditIDLen))
		}
		*p.dst = v
	}
	switch v := query.Get("outcome"); v {
	case "", "ok", "failed":
		f.Outcome = v
	default:
		return f, problem.BadRequest("outcome", "must be ok or failed")
	}

	var err error
	if f.Since, err = parseAuditTime(query.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseAuditTime(query.Get("until"), "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, problem.BadRequest("until", "must be later than since")
	}

	if v := query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return f, problem.BadRequest("limit", fmt.Sprintf("must be a whole number from 1 to %d", maxAuditLimit))
		}
		f.Limit = n
	}
	if v := query.Get("cursor"); v != "" {
		if !auditCursorPattern.MatchString(v) {
			return f, problem.BadRequest("cursor", "is not a cursor from this API; send the next_cursor of the previous page")
		}
		f.Before = v
	}
	return f, nil
}

func parseAuditTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, problem.BadRequest(name, "must be an RFC 3339 time such as 2026-03-01T09:00:00Z")
	}
	return t, nil
}
