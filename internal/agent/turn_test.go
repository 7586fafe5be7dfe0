package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/store"
)

func TestConsentThenResume(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	interrupt := h.pause(sid)

	h.vault.connect("u1", "cal")
	events := h.turn(sid, &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "consented"}}})
	if got, want := eventNames(events), []string{"turn_start", "tool_use", "tool_result", "text_delta", "done"}; !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	if res := events[2].Data.(*ToolResultData); res.Status != StatusDone || res.Content != "output of cal__list" {
		t.Errorf("tool_result: got %+v, want the tool's output", res)
	}
	if stop := doneOf(t, events); stop != StopEndTurn {
		t.Errorf("stop reason: got %q, want end_turn", stop)
	}
	h.wantWellFormed(sid)
}

// A client may send its next request as soon as it reads the done event,
// so the session must be free by then.
func TestSessionFreeAtDone(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	turn, err := h.runner.Prepare(context.Background(), testUser, sid, &TurnRequest{Message: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var nextErr error
	turn.Run(context.Background(), func(ev Event) error {
		if ev.Name != EventDone {
			return nil
		}
		next, err := h.runner.Prepare(context.Background(), testUser, sid, &TurnRequest{Message: "right away"})
		if err == nil {
			next.Abandon()
		}
		nextErr = err
		return nil
	})
	if nextErr != nil {
		t.Errorf("Prepare on the done event: got %v, want the session free", nextErr)
	}
}

// Two requests resuming the same paused turn share its turn id, and the
// one that fails must not free the session that the other holds.
func TestSecondResumeKeepsLease(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	interrupt := h.pause(sid)
	resume := &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "declined"}}}

	first, err := h.runner.Prepare(context.Background(), testUser, sid, resume)
	if err != nil {
		t.Fatalf("first resume: %v", err)
	}
	if _, err := h.runner.Prepare(context.Background(), testUser, sid, resume); !errors.Is(err, ErrTurnRunning) {
		t.Errorf("second resume while the first holds the session: got %v, want ErrTurnRunning", err)
	}
	if _, err := h.runner.Prepare(context.Background(), testUser, sid, &TurnRequest{Message: "hello"}); !errors.Is(err, ErrTurnRunning) {
		t.Errorf("new message while the first resume holds the session: got %v, want ErrTurnRunning", err)
	}
	first.Run(context.Background(), func(Event) error { return nil })

	if _, err := h.runner.Prepare(context.Background(), testUser, sid, resume); !errors.Is(err, ErrNothingToResume) {
		t.Errorf("resume after the turn ended: got %v, want ErrNothingToResume", err)
	}
	h.wantWellFormed(sid)
}

// A request that fails validation after the session's paused turn was
// found must leave that turn paused.
func TestRejectedRequestKeepsPause(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	interrupt := h.pause(sid)

	rejected := []*TurnRequest{
		{Message: "other model", Model: "no-such-model"},
		{Message: "other server", MCPServers: []string{"nowhere"}},
		{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "consented"}, {InterruptID: "intr:other", Response: "consented"}}},
	}
	for _, req := range rejected {
		var input *InputError
		if _, err := h.runner.Prepare(context.Background(), testUser, sid, req); !errors.As(err, &input) {
			t.Errorf("Prepare(%+v): got %v, want an *InputError", req, err)
		}
	}

	detail, err := h.runner.GetSession(context.Background(), testUser, sid)
	if err != nil {
		t.Fatal(err)
	}
	if !detail.Paused || len(detail.PendingInterrupts) != 1 {
		t.Fatalf("session: got paused %v, interrupts %+v; want the paused turn", detail.Paused, detail.PendingInterrupts)
	}
	h.vault.connect("u1", "cal")
	events := h.turn(sid, &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "consented"}}})
	if stop := doneOf(t, events); stop != StopEndTurn {
		t.Errorf("resume: got stop %q, want end_turn; events %v", stop, eventNames(events))
	}
	h.wantWellFormed(sid)
}

func TestResumeErrors(t *testing.T) {
	h := newHarness(t, &Options{PauseTTL: time.Minute})
	sid := h.session()
	ctx := context.Background()
	answer := func(id string) *TurnRequest {
		return &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: id, Response: "consented"}}}
	}

	if _, err := h.runner.Prepare(ctx, testUser, sid, answer("intr:x")); !errors.Is(err, ErrNothingToResume) {
		t.Errorf("resume without a paused turn: got %v, want ErrNothingToResume", err)
	}
	interrupt := h.pause(sid)
	var input *InputError
	if _, err := h.runner.Prepare(ctx, testUser, sid, answer("intr:x")); !errors.As(err, &input) || !slices.Equal(input.UnknownIDs, []string{"intr:x"}) {
		t.Errorf("resume with an unknown id: got %v, want an *InputError listing intr:x", err)
	}
	if _, err := h.runner.Prepare(ctx, Caller{UserID: "u2"}, sid, answer(interrupt)); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("resume by another user: got %v, want ErrSessionNotFound", err)
	}

	h.runner.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := h.runner.Prepare(ctx, testUser, sid, answer(interrupt)); !errors.Is(err, ErrPauseExpired) {
		t.Errorf("resume after the pause TTL: got %v, want ErrPauseExpired", err)
	}
}

// A paused turn that Prepare claimed is closed even when Run never
// starts.
func TestAbandonClosesClaimedPause(t *testing.T) {
	tests := []struct {
		name string
		req  func(interrupt string) *TurnRequest
	}{
		{"new message", func(string) *TurnRequest { return &TurnRequest{Message: "never mind"} }},
		{"resume", func(id string) *TurnRequest {
			return &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: id, Response: "consented"}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sid := h.session()
			interrupt := h.pause(sid)
			turn, err := h.runner.Prepare(context.Background(), testUser, sid, tt.req(interrupt))
			if err != nil {
				t.Fatal(err)
			}
			turn.Abandon()
			h.wantWellFormed(sid)

			events := h.turn(sid, &TurnRequest{Message: "hello"})
			if stop := doneOf(t, events); stop != StopEndTurn {
				t.Errorf("next turn: got stop %q, want end_turn; events %v", stop, eventNames(events))
			}
		})
	}
}

// A client that is gone before the first event still leaves a
// well-formed conversation.
func TestClientGoneAtStart(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	interrupt := h.pause(sid)
	h.vault.connect("u1", "cal")

	ctx, cancel := context.WithCancel(context.Background())
	turn, err := h.runner.Prepare(ctx, testUser, sid, &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "consented"}}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	turn.Run(ctx, func(Event) error { return errors.New("connection closed") })

	h.wantWellFormed(sid)
	msgs := h.messages(sid)
	if last := msgs[len(msgs)-1]; len(last.ToolResults) != 1 || last.ToolResults[0].Status != StatusCancelled {
		t.Errorf("last message: got %+v, want the cancelled result of the paused call", last)
	}
}

// Each provider is prompted at most once per turn: after the consent, a
// server that rejects the token again fails the call, and so does a later
// call in the same turn, without a second prompt.
func TestPromptOncePerTurn(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.connect("u1", "cal")
	h.tools.call = func(ctx context.Context, caller Caller, tool ToolSpec, args json.RawMessage) (*ToolOutput, error) {
		if tool.ProviderID != "" {
			return nil, authError
		}
		return &ToolOutput{Text: "ok"}, nil
	}
	sid := h.session()

	h.model.plan("list my calendar", llm.ToolCall{ID: "call_1", Name: "cal__list", Arguments: json.RawMessage(`{}`)})
	events := h.turn(sid, &TurnRequest{Message: "list my calendar"})
	if got, want := eventNames(events), []string{"turn_start", "tool_use", "oauth_required", "done"}; !slices.Equal(got, want) {
		t.Fatalf("first step: got %v, want %v", got, want)
	}
	required := events[2].Data.(*OAuthRequiredData)
	if required.Reason != reasonTokenRejected {
		t.Errorf("reason: got %q, want %q", required.Reason, reasonTokenRejected)
	}
	if h.vault.refresh != 1 || h.vault.marked != 1 {
		t.Errorf("gate: got %d silent refreshes and %d re-consent marks, want 1 each", h.vault.refresh, h.vault.marked)
	}

	h.vault.connect("u1", "cal")
	h.model.planRetry("rejected again", llm.ToolCall{ID: "call_1", Name: "cal__list", Arguments: json.RawMessage(`{}`)})
	events = h.turn(sid, &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: required.InterruptID, Response: "consented"}}})
	want := []string{"turn_start", "tool_use", "tool_result", "tool_use", "tool_result", "text_delta", "done"}
	if got := eventNames(events); !slices.Equal(got, want) {
		t.Fatalf("resumed turn: got %v, want %v", got, want)
	}
	for _, i := range []int{2, 4} {
		if res := events[i].Data.(*ToolResultData); res.Status != StatusFailed || !res.IsError {
			t.Errorf("event %d: got %+v, want a failed result", i, res)
		}
	}
	if res := events[4].Data.(*ToolResultData); !strings.Contains(res.Content, "already asked") {
		t.Errorf("retried call: got %q, want it to say the user was already asked", res.Content)
	}
	if stop := doneOf(t, events); stop != StopEndTurn {
		t.Errorf("stop reason: got %q, want end_turn", stop)
	}
	if h.consents.started != 1 {
		t.Errorf("consents started: got %d, want 1", h.consents.started)
	}
	h.wantWellFormed(sid)
}

// A consent that cannot start turns the call into a failed result instead
// of a pause, and the turn goes on.
func TestConsentStartFails(t *testing.T) {
	h := newHarness(t, nil)
	h.consents.err = errBroken
	sid := h.session()
	h.model.plan("list my calendar", llm.ToolCall{ID: "call_1", Name: "cal__list", Arguments: json.RawMessage(`{}`)})
	events := h.turn(sid, &TurnRequest{Message: "list my calendar"})
	if got, want := eventNames(events), []string{"turn_start", "tool_use", "tool_result", "text_delta", "done"}; !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	if res := events[2].Data.(*ToolResultData); res.Status != StatusFailed || !strings.Contains(res.Content, "server error") {
		t.Errorf("tool_result: got %+v, want a failed result naming a server error", res)
	}
	detail, err := h.runner.GetSession(context.Background(), testUser, sid)
	if err != nil {
		t.Fatal(err)
	}
	if detail.Paused {
		t.Errorf("session: got paused, want no paused turn")
	}
}

func TestAnnotateStatuses(t *testing.T) {
	call := func(id string) toolCall { return toolCall{ID: id, Name: "cal__list"} }
	result := func(id, status string) toolResult { return toolResult{CallID: id, Status: status} }
	msgs := []message{
		{ID: "m1", Role: llm.RoleUser, Text: "first"},
		{ID: "m2", Role: llm.RoleAssistant, ToolCalls: []toolCall{call("call_1"), call("call_2")}},
		{ID: "m3", Role: llm.RoleUser, ToolResults: []toolResult{result("call_1", StatusDone), result("call_2", StatusNotAuthorized)}},
		{ID: "m4", Role: llm.RoleAssistant, Text: "done"},
		{ID: "m5", Role: llm.RoleUser, Text: "second"},
		// The model numbers this message's calls from 1 again.
		{ID: "m6", Role: llm.RoleAssistant, ToolCalls: []toolCall{call("call_1"), call("call_2")}},
		{ID: "m7", Role: llm.RoleUser, ToolResults: []toolResult{result("call_2", StatusDone)}},
		{ID: "m8", Role: llm.RoleAssistant, ToolCalls: []toolCall{call("call_1")}},
	}
	annotateStatuses(msgs, map[string]bool{callKey("m8", "call_1"): true})

	tests := []struct {
		msg, call int
		want      string
	}{
		{1, 0, StatusDone},
		{1, 1, StatusNotAuthorized},
		{5, 0, StatusCancelled},
		{5, 1, StatusDone},
		{7, 0, StatusAwaitingAuth},
	}
	for _, tt := range tests {
		if got := msgs[tt.msg].ToolCalls[tt.call].Status; got != tt.want {
			t.Errorf("message %s call %d: got status %q, want %q", msgs[tt.msg].ID, tt.call, got, tt.want)
		}
	}
}

// A turn that died during a tool call (the process stopped) leaves a call
// without a result, and the next turn must still reach the model.
func TestTurnAfterUnansweredCall(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	dangling := &message{ID: "msg_dead", Role: llm.RoleAssistant, CreatedAt: time.Now(),
		ToolCalls: []toolCall{{ID: "call_1", Name: "echo__say", Arguments: json.RawMessage(`{}`)}}}
	row, err := dangling.stored("turn_dead")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.AppendChatMessages(context.Background(), sid, []store.ChatMessage{row}); err != nil {
		t.Fatal(err)
	}

	events := h.turn(sid, &TurnRequest{Message: "hello again"})
	if stop := doneOf(t, events); stop != StopEndTurn {
		t.Fatalf("turn: got stop %q, want end_turn; events %v", stop, eventNames(events))
	}
	detail, err := h.runner.GetSession(context.Background(), testUser, sid)
	if err != nil {
		t.Fatal(err)
	}
	if got := detail.Messages[0].ToolCalls[0].Status; got != StatusCancelled {
		t.Errorf("unanswered call: got status %q, want cancelled", got)
	}
}

func TestConversationClosesUnansweredCalls(t *testing.T) {
	call := func(id string) toolCall { return toolCall{ID: id, Name: "echo__say"} }
	msgs := []message{
		{Role: llm.RoleUser, Text: "first"},
		{Role: llm.RoleAssistant, ToolCalls: []toolCall{call("call_1"), call("call_2")}},
		{Role: llm.RoleUser, ToolResults: []toolResult{{CallID: "call_2", Content: "two", Status: StatusDone}}},
		{Role: llm.RoleUser, Text: "second"},
		{Role: llm.RoleAssistant, ToolCalls: []toolCall{call("call_1")}},
		{Role: llm.RoleAssistant, Text: "after a crash"},
	}
	conv := conversation(msgs)

	var roles []llm.Role
	for _, m := range conv {
		roles = append(roles, m.Role)
	}
	if want := []llm.Role{llm.RoleUser, llm.RoleAssistant, llm.RoleUser, llm.RoleAssistant, llm.RoleUser, llm.RoleAssistant}; !slices.Equal(roles, want) {
		t.Fatalf("roles: got %v, want %v", roles, want)
	}
	if got := conv[2]; got.Text != "second" || len(got.ToolResults) != 2 || got.ToolResults[1].CallID != "call_1" || !got.ToolResults[1].IsError {
		t.Errorf("first answer: got %+v, want call_2's result, a cancelled result for call_1 and the text", got)
	}
	if got := conv[4]; len(got.ToolResults) != 1 || got.ToolResults[0].CallID != "call_1" {
		t.Errorf("second answer: got %+v, want a cancelled result for the second call_1", got)
	}
}

// A turn that reaches max_iterations ends after running the last step's
// tools, also when that step paused and is resumed.
func TestMaxIterationsAcrossResume(t *testing.T) {
	h := newHarness(t, nil)
	sid := h.session()
	h.model.plan("list and echo",
		llm.ToolCall{ID: "call_1", Name: "cal__list", Arguments: json.RawMessage(`{}`)},
		llm.ToolCall{ID: "call_2", Name: "echo__say", Arguments: json.RawMessage(`{}`)})
	events := h.turn(sid, &TurnRequest{Message: "list and echo", MaxIterations: 1})
	if stop := doneOf(t, events); stop != StopInterrupt {
		t.Fatalf("turn: got stop %q, want interrupt", stop)
	}
	var interrupt string
	for _, ev := range events {
		if d, ok := ev.Data.(*OAuthRequiredData); ok {
			interrupt = d.InterruptID
		}
	}

	h.vault.connect("u1", "cal")
	events = h.turn(sid, &TurnRequest{InterruptResponses: []InterruptResponse{{InterruptID: interrupt, Response: "consented"}}})
	if got, want := eventNames(events), []string{"turn_start", "tool_use", "tool_result", "done"}; !slices.Equal(got, want) {
		t.Fatalf("resumed turn: got %v, want %v", got, want)
	}
	if stop := doneOf(t, events); stop != StopMaxIterations {
		t.Errorf("resumed turn: got stop %q, want max_iterations", stop)
	}
	msgs := h.messages(sid)
	last := msgs[len(msgs)-1]
	if len(last.ToolResults) != 2 || last.ToolResults[0].CallID != "call_1" || last.ToolResults[1].CallID != "call_2" {
		t.Errorf("stored results: got %+v, want both calls' results in call order", last.ToolResults)
	}
	h.wantWellFormed(sid)
}
