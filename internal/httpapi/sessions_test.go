package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/agent"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestAgentProblem(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"input", &agent.InputError{Field: "message", Detail: "is required"}, http.StatusBadRequest, "invalid_field"},
		{"session not found", agent.ErrSessionNotFound, http.StatusNotFound, "not_found"},
		{"turn running", agent.ErrTurnRunning, http.StatusConflict, "turn_running"},
		{"pause expired", agent.ErrPauseExpired, http.StatusConflict, "pause_expired"},
		{"nothing to resume", agent.ErrNothingToResume, http.StatusConflict, "nothing_to_resume"},
		{"client gone", fmt.Errorf("agent: list tools: %w", context.Canceled), 499, "client_closed"},
		{"other", errors.New("disk on fire"), http.StatusInternalServerError, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *problem.Error
			if !errors.As(agentProblem(tt.err), &p) {
				t.Fatalf("got %T, want a *problem.Error", agentProblem(tt.err))
			}
			if p.Status != tt.wantStatus || p.Code != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", p.Status, p.Code, tt.wantStatus, tt.wantCode)
			}
			if strings.Contains(p.Detail, "disk on fire") {
				t.Errorf("detail %q reveals the internal cause", p.Detail)
			}
		})
	}

	p := agentProblem(&agent.InputError{Field: "interrupt_responses", Detail: "unknown", UnknownIDs: []string{"intr:a"}}).(*problem.Error)
	if ids, _ := p.Extra["unknown_interrupt_ids"].([]string); len(ids) != 1 || ids[0] != "intr:a" {
		t.Errorf("unknown ids: got %v, want [intr:a]", p.Extra)
	}
	if p := agentProblem(agent.ErrPauseExpired).(*problem.Error); p.Detail != "paused turn expired; send the message again" {
		t.Errorf("pause expired detail: got %q", p.Detail)
	}
}

// sessionsServer serves the chat routes with the scripted model and no
// MCP servers, for the identities of testAuthenticate.
func sessionsServer(t *testing.T) *httptest.Server {
	t.Helper()
	st := storetest.NewSQLite(t)
	models := llm.NewRegistry()
	scripted := llm.NewScripted()
	if err := models.Add(scripted, scripted.Models()...); err != nil {
		t.Fatal(err)
	}
	runner := agent.New(st, models, &agent.MCPTools{Registry: mcpclient.NewRegistry(st, nil, nil)}, nil, nil, nil)
	srv := httptest.NewServer(New(&Options{Authenticate: testAuthenticate, Agent: runner, Models: models}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// call sends a request as the identity named as (empty: anonymous) and
// returns the response with its body read.
func call(t *testing.T, srv *httptest.Server, as, method, path, body string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if as != "" {
		req.Header.Set(testIdentityHeader, as)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSessionRoutes(t *testing.T) {
	srv := sessionsServer(t)

	resp, body := call(t, srv, "alice", http.MethodPost, "/api/v1/sessions", "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create session: got %d %s, want 201", resp.StatusCode, body)
	}
	var sess struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil || sess.ID == "" {
		t.Fatalf("create session: got %s, want an id", body)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/sessions/"+sess.ID {
		t.Errorf("Location: got %q", loc)
	}
	base := "/api/v1/sessions/" + sess.ID

	resp, body = call(t, srv, "alice", http.MethodPost, base+"/turns", `{"message":"hello there"}`)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("turn: got %d %q %s, want an event stream", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.HasPrefix(body, "id: 1\nevent: turn_start\n") || !strings.Contains(body, "event: done\n") {
		t.Errorf("turn stream: got %q, want turn_start first and a done event", body)
	}

	tests := []struct {
		name, as, method, path, body string
		wantStatus                   int
		wantCode                     string
	}{
		{"anonymous", "", http.MethodGet, base, "", http.StatusUnauthorized, ""},
		{"other user reads", "bob", http.MethodGet, base, "", http.StatusNotFound, "not_found"},
		{"other user sends", "bob", http.MethodPost, base + "/turns", `{"message":"hi"}`, http.StatusNotFound, "not_found"},
		{"other user dismisses", "bob", http.MethodDelete, base + "/pending-interrupts/intr:x", "", http.StatusNotFound, "not_found"},
		{"unknown session", "alice", http.MethodGet, "/api/v1/sessions/ses_nope", "", http.StatusNotFound, "not_found"},
		{"no message", "alice", http.MethodPost, base + "/turns", `{}`, http.StatusBadRequest, "invalid_field"},
		{"message and answers", "alice", http.MethodPost, base + "/turns",
			`{"message":"x","interrupt_responses":[{"interrupt_id":"intr:a","response":"consented"}]}`, http.StatusBadRequest, "invalid_field"},
		{"bad answer", "alice", http.MethodPost, base + "/turns",
			`{"interrupt_responses":[{"interrupt_id":"intr:a","response":"maybe"}]}`, http.StatusBadRequest, "invalid_field"},
		{"unknown field", "alice", http.MethodPost, base + "/turns", `{"message":"x","colour":"red"}`, http.StatusBadRequest, "invalid_field"},
		{"unknown model", "alice", http.MethodPost, base + "/turns", `{"message":"x","model":"nope"}`, http.StatusBadRequest, "invalid_field"},
		{"nothing paused", "alice", http.MethodPost, base + "/turns",
			`{"interrupt_responses":[{"interrupt_id":"intr:a","response":"consented"}]}`, http.StatusConflict, "nothing_to_resume"},
		{"dismiss with colons", "alice", http.MethodDelete, base + "/pending-interrupts/intr:a:b", "", http.StatusNoContent, ""},
		{"dismiss again", "alice", http.MethodDelete, base + "/pending-interrupts/intr:a:b", "", http.StatusNoContent, ""},
		{"dismiss escaped colon", "alice", http.MethodDelete, base + "/pending-interrupts/intr%3Aa", "", http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, srv, tt.as, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("content type: got %q, want %q", ct, problem.ContentType)
			}
			var p struct {
				Code string `json:"code"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != tt.wantCode {
				t.Errorf("body: got %s, want code %s", body, tt.wantCode)
			}
		})
	}

	resp, body = call(t, srv, "alice", http.MethodGet, base, "")
	var detail struct {
		Messages          []json.RawMessage `json:"messages"`
		PendingInterrupts []json.RawMessage `json:"pending_interrupts"`
		Paused            bool              `json:"paused"`
	}
	if err := json.Unmarshal([]byte(body), &detail); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get session: got %d %s", resp.StatusCode, body)
	}
	if len(detail.Messages) != 2 || detail.PendingInterrupts == nil || detail.Paused {
		t.Errorf("session: got %s, want the two messages of the turn, an empty interrupt list and no pause", body)
	}

	_, body = call(t, srv, "bob", http.MethodGet, "/api/v1/sessions", "")
	if strings.Contains(body, sess.ID) {
		t.Errorf("bob's session list contains alice's session: %s", body)
	}
}

// TestTurnListsEveryInvalidSetting checks that a turn with several
// invalid settings names each of them, not only the first.
func TestTurnListsEveryInvalidSetting(t *testing.T) {
	srv := sessionsServer(t)
	_, body := call(t, srv, "alice", http.MethodPost, "/api/v1/sessions", "")
	var sess struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil {
		t.Fatal(err)
	}

	resp, body := call(t, srv, "alice", http.MethodPost, "/api/v1/sessions/"+sess.ID+"/turns",
		`{"message":"hi","temperature":5,"tool_timeout":"soon","max_iterations":99}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status: got %d %s, want 400", resp.StatusCode, body)
	}
	var p struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	if want := []string{"temperature", "max_iterations", "tool_timeout"}; strings.Join(fields, ",") != strings.Join(want, ",") {
		t.Errorf("invalid fields: got %v, want %v", fields, want)
	}
}
