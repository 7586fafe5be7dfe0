package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// testUser is the caller of the tests' turns.
var testUser = Caller{UserID: "u1"}

// harness is a Runner on a SQLite store with fakes for the model, the
// tools, the vault and the consent service.
type harness struct {
	t        *testing.T
	runner   *Runner
	store    *store.Store
	model    *scriptModel
	tools    *fakeTools
	vault    *fakeVault
	consents *fakeConsents
}

func newHarness(t *testing.T, opts *Options) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		store:    storetest.NewSQLite(t),
		model:    &scriptModel{},
		tools:    newFakeTools(),
		vault:    &fakeVault{tokens: map[string]*vault.Token{}},
		consents: &fakeConsents{},
	}
	h.runner = New(h.store, fakeModels{h.model}, h.tools, h.vault, h.consents, opts)
	return h
}

// session creates a session of testUser and returns its id.
func (h *harness) session() string {
	h.t.Helper()
	s, err := h.runner.CreateSession(context.Background(), testUser, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return s.ID
}

// turn prepares and runs a turn, returning its events.
func (h *harness) turn(sessionID string, req *TurnRequest) []Event {
	h.t.Helper()
	turn, err := h.runner.Prepare(context.Background(), testUser, sessionID, req)
	if err != nil {
		h.t.Fatalf("Prepare: %v", err)
	}
	var events []Event
	turn.Run(context.Background(), func(ev Event) error {
		events = append(events, ev)
		return nil
	})
	return events
}

// pause runs a turn whose model calls the gated tool cal__list, which
// pauses it because u1 has no token. It returns the interrupt id.
func (h *harness) pause(sessionID string) string {
	h.t.Helper()
	h.model.plan("list my calendar", llm.ToolCall{ID: "call_1", Name: "cal__list", Arguments: json.RawMessage(`{}`)})
	events := h.turn(sessionID, &TurnRequest{Message: "list my calendar"})
	if stop := doneOf(h.t, events); stop != StopInterrupt {
		h.t.Fatalf("turn: got stop reason %q, want interrupt; events %v", stop, eventNames(events))
	}
	for _, ev := range events {
		if d, ok := ev.Data.(*OAuthRequiredData); ok {
			return d.InterruptID
		}
	}
	h.t.Fatalf("no oauth_required event in %v", eventNames(events))
	return ""
}

// messages returns the session's stored conversation.
func (h *harness) messages(sessionID string) []message {
	h.t.Helper()
	rows, err := h.store.ListChatMessages(context.Background(), sessionID)
	if err != nil {
		h.t.Fatal(err)
	}
	msgs, err := decodeMessages(rows)
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// wantWellFormed fails the test unless every tool call in the session has
// a result before the next assistant message.
func (h *harness) wantWellFormed(sessionID string) {
	h.t.Helper()
	if problem := unanswered(h.messages(sessionID)); problem != "" {
		h.t.Errorf("conversation: %s", problem)
	}
}

func unanswered(msgs []message) string {
	for i, m := range msgs {
		answered := map[string]bool{}
		for j := i + 1; j < len(msgs) && msgs[j].Role != llm.RoleAssistant; j++ {
			for _, r := range msgs[j].ToolResults {
				answered[r.CallID] = true
			}
		}
		for _, c := range m.ToolCalls {
			if !answered[c.ID] {
				return fmt.Sprintf("message %d: tool call %s has no result", i, c.ID)
			}
		}
	}
	return ""
}

func eventNames(events []Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.Name
	}
	return out
}

func doneOf(t *testing.T, events []Event) string {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	d, ok := events[len(events)-1].Data.(*DoneData)
	if !ok {
		t.Fatalf("last event: got %s, want done", events[len(events)-1].Name)
	}
	return d.StopReason
}

// fakeModels serves one model, named test-model.
type fakeModels struct{ model llm.Model }

func (f fakeModels) Get(name string) (llm.Model, llm.Info, error) {
	if name != "test-model" {
		return nil, llm.Info{}, fmt.Errorf("unknown model %q", name)
	}
	return f.Default()
}

func (f fakeModels) Default() (llm.Model, llm.Info, error) {
	return f.model, llm.Info{Name: "test-model", DisplayName: "Test model", Provider: "test"}, nil
}

// scriptModel responds to a user message that has a plan with the plan's
// calls, to any other user message with "ok", and to tool results with
// "results: " and their contents. It rejects a conversation with a tool
// call that has no result, as model APIs do.
type scriptModel struct {
	mu    sync.Mutex
	plans map[string][]llm.ToolCall
	// retries are calls made once, in response to tool results whose
	// content contains the key.
	retries map[string][]llm.ToolCall
}

func (m *scriptModel) plan(text string, calls ...llm.ToolCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.plans == nil {
		m.plans = map[string][]llm.ToolCall{}
	}
	m.plans[text] = calls
}

func (m *scriptModel) planRetry(resultText string, calls ...llm.ToolCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.retries == nil {
		m.retries = map[string][]llm.ToolCall{}
	}
	m.retries[resultText] = calls
}

func (m *scriptModel) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event) error) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, msg := range req.Messages {
		answered := map[string]bool{}
		if i+1 < len(req.Messages) {
			for _, r := range req.Messages[i+1].ToolResults {
				answered[r.CallID] = true
			}
		}
		for _, c := range msg.ToolCalls {
			if !answered[c.ID] {
				return nil, fmt.Errorf("script model: tool call %s has no result", c.ID)
			}
		}
	}

	last := req.Messages[len(req.Messages)-1]
	m.mu.Lock()
	var calls []llm.ToolCall
	text := "ok"
	if len(last.ToolResults) > 0 && last.Text == "" {
		var parts []string
		for _, r := range last.ToolResults {
			parts = append(parts, r.Content)
		}
		text = "results: " + strings.Join(parts, " | ")
		for key, retry := range m.retries {
			if strings.Contains(text, key) {
				calls, text = retry, ""
				delete(m.retries, key)
				break
			}
		}
	} else if plan, ok := m.plans[last.Text]; ok {
		calls, text = plan, ""
	}
	m.mu.Unlock()

	if text != "" && onEvent != nil {
		if err := onEvent(llm.Event{Kind: llm.EventTextDelta, Text: text}); err != nil {
			return nil, err
		}
	}
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Text: text, ToolCalls: calls}}, nil
}

// fakeTools offers cal__list (gated by provider cal) and echo__say
// (ungated). A call runs the call field, or returns "output of" and the
// tool name when that is nil.
type fakeTools struct {
	mu    sync.Mutex
	specs []ToolSpec
	call  func(ctx context.Context, caller Caller, tool ToolSpec, args json.RawMessage) (*ToolOutput, error)
	calls int
}

func newFakeTools() *fakeTools {
	return &fakeTools{specs: []ToolSpec{
		{Name: "cal__list", ServerID: "cal", Tool: "list", ProviderID: "cal", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "echo__say", ServerID: "echo", Tool: "say", InputSchema: json.RawMessage(`{"type":"object"}`)},
	}}
}

func (f *fakeTools) ListTools(ctx context.Context, caller Caller, serverIDs []string) ([]ToolSpec, []Warning, error) {
	for i, id := range serverIDs {
		if id != "cal" && id != "echo" {
			return nil, nil, &InputError{Field: fmt.Sprintf("mcp_servers[%d]", i), Detail: "unknown"}
		}
	}
	return f.specs, nil, nil
}

func (f *fakeTools) CallTool(ctx context.Context, caller Caller, tool ToolSpec, args json.RawMessage) (*ToolOutput, error) {
	f.mu.Lock()
	f.calls++
	call := f.call
	f.mu.Unlock()
	if call != nil {
		return call(ctx, caller, tool, args)
	}
	return &ToolOutput{Text: "output of " + tool.Name}, nil
}

// fakeVault holds tokens by user and provider. A missing token is
// ConsentRequired(not_connected), and a connection marked for re-consent
// is ConsentRequired(needs_reauth).
type fakeVault struct {
	mu       sync.Mutex
	tokens   map[string]*vault.Token
	reauth   map[string]bool
	refresh  int
	marked   int
	tokenErr error
}

func (v *fakeVault) connect(userID, providerID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens[userID+"/"+providerID] = &vault.Token{AccessToken: "at-" + userID, Generation: 1}
	delete(v.reauth, userID+"/"+providerID)
}

func (v *fakeVault) Token(ctx context.Context, userID, providerID string, opts vault.TokenOptions) (*vault.Token, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tokenErr != nil {
		return nil, v.tokenErr
	}
	key := userID + "/" + providerID
	tok, ok := v.tokens[key]
	switch {
	case !ok:
		return nil, &vault.ConsentRequiredError{Reason: vault.ReasonNotConnected}
	case v.reauth[key]:
		return nil, &vault.ConsentRequiredError{Reason: vault.ReasonNeedsReauth}
	}
	if opts.ForceRefresh {
		v.refresh++
		tok.Generation++
	}
	out := *tok
	return &out, nil
}

func (v *fakeVault) MarkNeedsReauth(ctx context.Context, userID, providerID string, generation int64, reason string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.reauth == nil {
		v.reauth = map[string]bool{}
	}
	v.reauth[userID+"/"+providerID] = true
	v.marked++
	return nil
}

// fakeConsents starts consents numbered cns_1, cns_2, …, unless the
// vault has a usable token, as consent.Service does.
type fakeConsents struct {
	mu      sync.Mutex
	started int
	err     error
}

func (c *fakeConsents) Start(ctx context.Context, userID string, roles []string, providerID string, in consent.StartInput) (*consent.StartResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	c.started++
	id := fmt.Sprintf("cns_%d", c.started)
	return &consent.StartResult{ConsentID: id, AuthorizationURL: "https://toolgate.test/connect/" + id}, nil
}

// authError is a 401 from an MCP server.
var authError = &mcpclient.AuthError{ServerID: "cal", Source: mcpclient.SourceHTTP, Status: 401, Code: "invalid_token"}

var errBroken = errors.New("broken")
