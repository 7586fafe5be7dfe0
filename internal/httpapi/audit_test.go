package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/store"
)

type auditPage struct {
	Events []struct {
		ID         string          `json:"id"`
		At         time.Time       `json:"at"`
		Action     string          `json:"action"`
		ActorID    string          `json:"actor_id"`
		UserID     string          `json:"user_id"`
		ProviderID string          `json:"provider_id"`
		Outcome    string          `json:"outcome"`
		Detail     json.RawMessage `json:"detail"`
	} `json:"events"`
	NextCursor string `json:"next_cursor"`
}

// seedAudit stores events one minute apart from base: refreshes by
// alice, a failed refresh of bob's and a revoke by the agent.
func seedAudit(t *testing.T, st *store.Store, base time.Time) {
	t.Helper()
	events := []store.AuditEvent{
		{Action: audit.RefreshOK, ActorID: "alice", UserID: "alice", ProviderID: "acme", Outcome: audit.OK},
		{Action: audit.RefreshOK, ActorID: "alice", UserID: "alice", ProviderID: "acme", Outcome: audit.OK},
		{Action: audit.RefreshFailed, ActorID: "system", UserID: "bob", ProviderID: "acme", Outcome: audit.Failed,
			Detail: json.RawMessage(`{"error":"invalid_grant"}`)},
		{Action: audit.Revoke, ActorID: "api_token:tok1", UserID: "alice", ProviderID: "staffonly", Outcome: audit.OK},
		{Action: audit.RefreshOK, ActorID: "alice", UserID: "alice", ProviderID: "staffonly", Outcome: audit.OK},
	}
	for i := range events {
		e := &events[i]
		e.At = base.Add(time.Duration(i) * time.Minute)
		e.ID = audit.NewID(e.At)
		if err := st.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditRouteFilters(t *testing.T) {
	env := newConnectorsEnv(t, false)
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	seedAudit(t, env.st, base)

	tests := []struct {
		query   string
		actions []string
	}{
		{"", []string{"refresh_ok", "revoke", "refresh_failed", "refresh_ok", "refresh_ok"}},
		{"action=refresh_ok", []string{"refresh_ok", "refresh_ok", "refresh_ok"}},
		{"user_id=bob", []string{"refresh_failed"}},
		{"provider_id=staffonly", []string{"refresh_ok", "revoke"}},
		{"actor_id=api_token:tok1", []string{"revoke"}},
		{"outcome=failed", []string{"refresh_failed"}},
		{"since=2026-03-01T09:02:00Z", []string{"refresh_ok", "revoke", "refresh_failed"}},
		{"until=2026-03-01T09:02:00Z", []string{"refresh_ok", "refresh_ok"}},
		{"action=refresh_ok&provider_id=acme&since=2026-03-01T09:01:00Z", []string{"refresh_ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, data := env.call(t, "admin", http.MethodGet, "/api/v1/admin/audit?"+tt.query, "")
			wantStatus(t, resp, data, http.StatusOK)
			page := decodeBody[auditPage](t, data)
			var got []string
			for _, e := range page.Events {
				got = append(got, e.Action)
			}
			if len(got) != len(tt.actions) {
				t.Fatalf("actions: got %v, want %v", got, tt.actions)
			}
			for i := range got {
				if got[i] != tt.actions[i] {
					t.Errorf("actions: got %v, want %v (newest first)", got, tt.actions)
					break
				}
			}
			if page.NextCursor != "" {
				t.Errorf("next_cursor: got %q, want none when everything fits", page.NextCursor)
			}
		})
	}

	resp, data := env.call(t, "admin", http.MethodGet, "/api/v1/admin/audit?outcome=failed", "")
	wantStatus(t, resp, data, http.StatusOK)
	page := decodeBody[auditPage](t, data)
	if string(page.Events[0].Detail) != `{"error":"invalid_grant"}` || !page.Events[0].At.Equal(base.Add(2*time.Minute)) {
		t.Errorf("event: got detail %s at %v, want the stored ones", page.Events[0].Detail, page.Events[0].At)
	}
}

func TestAuditRoutePaging(t *testing.T) {
	env := newConnectorsEnv(t, false)
	seedAudit(t, env.st, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging did not end")
		}
		query := url.Values{"limit": {"2"}}
		if cursor != "" {
			query.Set("cursor", cursor)
		}
		resp, data := env.call(t, "admin", http.MethodGet, "/api/v1/admin/audit?"+query.Encode(), "")
		wantStatus(t, resp, data, http.StatusOK)
		page := decodeBody[auditPage](t, data)
		if len(page.Events) > 2 {
			t.Fatalf("page has %d events, want at most 2", len(page.Events))
		}
		for _, e := range page.Events {
			seen = append(seen, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 5 {
		t.Fatalf("events over all pages: got %d, want 5", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Errorf("ids not strictly descending across pages: %v", seen)
		}
	}
}

func TestAuditRouteInvalidFilters(t *testing.T) {
	env := newConnectorsEnv(t, false)
	tests := []struct{ query, field string }{
		{"since=yesterday", "since"},
		{"until=2026-03-01", "until"},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
		{"cursor=abc", "cursor"},
		{"outcome=maybe", "outcome"},
		{"action=Refresh-OK", "action"},
		{"colour=blue", "colour"},
		{"user_id=a&user_id=b", "user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, data := env.call(t, "admin", http.MethodGet, "/api/v1/admin/audit?"+tt.query, "")
			wantStatus(t, resp, data, http.StatusBadRequest)
			var body struct {
				Errors []problem.FieldError `json:"errors"`
			}
			if err := json.Unmarshal(data, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Field != tt.field {
				t.Errorf("body: got %s, want one error naming %s", data, tt.field)
			}
		})
	}
}

func TestAuditRouteRequiresAdmin(t *testing.T) {
	env := newConnectorsEnv(t, false)
	resp, data := env.call(t, "", http.MethodGet, "/api/v1/admin/audit", "")
	wantStatus(t, resp, data, http.StatusUnauthorized)
	resp, data = env.call(t, "alice", http.MethodGet, "/api/v1/admin/audit", "")
	wantStatus(t, resp, data, http.StatusForbidden)
}
