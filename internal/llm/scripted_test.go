package llm

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// calendarTools returns a small tool set like the one a calendar MCP server
// and a test server offer.
func calendarTools() []Tool {
	return []Tool{
		{
			Name:        "list_events",
			Description: "List the user's calendar events",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"date":{"type":"string","format":"date"},"limit":{"type":"integer"}}}`),
		},
		{
			Name:        "create_event",
			Description: "Create an event in the user's calendar",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"},"date":{"type":"string"},"notes":{"type":"string","default":""}},"required":["title","date"]}`),
		},
		{
			Name:        "echo",
			Description: "Echo a message back",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`),
		},
	}
}

// newTestScripted returns a scripted model with a fixed clock and no pause
// between chunks.
func newTestScripted() *Scripted {
	s := NewScripted()
	s.now = func() time.Time { return time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC) }
	s.chunkDelay = 0
	return s
}

// wantCall is an expected tool call: its name and its arguments as JSON.
type wantCall struct {
	name string
	args string
}

func TestScriptedToolChoice(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []wantCall
	}{
		{"question about calendar", "what's on my calendar?", []wantCall{{"list_events", `{}`}}},
		{"relative date", "What's on my calendar tomorrow?", []wantCall{{"list_events", `{"date":"2026-06-02"}`}}},
		{"number argument", "list 5 events for 2026-07-01", []wantCall{{"list_events", `{"date":"2026-07-01","limit":5}`}}},
		{"create with marker and date", "create an event called Dentist on 2026-12-24", []wantCall{{"create_event", `{"title":"Dentist","date":"2026-12-24","notes":""}`}}},
		{"synonym verb and noun", "Schedule a meeting titled Standup tomorrow", []wantCall{{"create_event", `{"title":"Standup","date":"2026-06-02","notes":""}`}}},
		{"quoted title", `please add an event "Team lunch" on 2026-09-01`, []wantCall{{"create_event", `{"title":"Team lunch","date":"2026-09-01","notes":""}`}}},
		{"named values", "create_event title: Review, date: 2026-10-10", []wantCall{{"create_event", `{"title":"Review","date":"2026-10-10","notes":""}`}}},
		{"missing required date is today", "create an event called Gym", []wantCall{{"create_event", `{"title":"Gym","date":"2026-06-01","notes":""}`}}},
		{"echo rest of message", "echo hello world", []wantCall{{"echo", `{"message":"hello world"}`}}},
		{"echo keeps articles", "Echo the quick brown fox.", []wantCall{{"echo", `{"message":"the quick brown fox"}`}}},
		{"echo quoted", `please echo "salt and pepper"`, []wantCall{{"echo", `{"message":"salt and pepper"}`}}},
		{"say means echo", "say good morning", []wantCall{{"echo", `{"message":"good morning"}`}}},
		{"two requests", "list my events and echo done", []wantCall{{"list_events", `{}`}, {"echo", `{"message":"done"}`}}},
		{"and inside a title", "create an event called Tom and Jerry on 2026-12-24", []wantCall{{"create_event", `{"title":"Tom and Jerry","date":"2026-12-24","notes":""}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Messages: []Message{{Role: RoleUser, Text: tt.input}}, Tools: calendarTools()}
			var rec eventRecorder
			resp, err := newTestScripted().Stream(context.Background(), req, rec.record)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}

			calls := resp.Message.ToolCalls
			if len(calls) != len(tt.want) {
				t.Fatalf("got %d tool calls %+v, want %d", len(calls), calls, len(tt.want))
			}
			for i, want := range tt.want {
				if calls[i].Name != want.name {
					t.Errorf("call %d: got tool %q, want %q", i, calls[i].Name, want.name)
				}
				if !jsonEqual(t, calls[i].Arguments, []byte(want.args)) {
					t.Errorf("call %d: got arguments %s, want %s", i, calls[i].Arguments, want.args)
				}
			}
			if resp.StopReason != StopToolUse {
				t.Errorf("got stop reason %q, want %q", resp.StopReason, StopToolUse)
			}
			if !reflect.DeepEqual(rec.doneCalls(), calls) {
				t.Errorf("got done events %+v, want the response's calls %+v", rec.doneCalls(), calls)
			}
		})
	}
}

func TestScriptedHelpText(t *testing.T) {
	tests := []struct {
		name  string
		tools []Tool
		input string
		want  []string
	}{
		{"no tools", nil, "what's on my calendar?", []string{"demo model", "No tools are available"}},
		{"no match", calendarTools(), "how is the weather in Paris?", []string{"demo model", "list_events: List the user's calendar events", "echo: Echo a message back"}},
		{"verb alone does not match", calendarTools(), "show me something", []string{"I can call these tools"}},
		{"other verb than the tools'", calendarTools(), "delete my dentist appointment", []string{"I can call these tools"}},
		{"unknown noun", calendarTools(), "show me the weather", []string{"I can call these tools"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Messages: []Message{{Role: RoleUser, Text: tt.input}}, Tools: tt.tools}
			resp, err := newTestScripted().Stream(context.Background(), req, nil)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if len(resp.Message.ToolCalls) != 0 {
				t.Errorf("got tool calls %+v, want none", resp.Message.ToolCalls)
			}
			if resp.StopReason != StopEndTurn {
				t.Errorf("got stop reason %q, want %q", resp.StopReason, StopEndTurn)
			}
			for _, want := range tt.want {
				if !strings.Contains(resp.Message.Text, want) {
					t.Errorf("got text %q, want it to contain %q", resp.Message.Text, want)
				}
			}
		})
	}
}

func TestScriptedSummary(t *testing.T) {
	call := ToolCall{ID: "call_scripted_1", Name: "list_events", Arguments: json.RawMessage(`{}`)}
	longLine := strings.Repeat("word ", 100)
	tests := []struct {
		name    string
		result  ToolResult
		want    []string
		notWant []string
	}{
		{
			name:   "result text",
			result: ToolResult{CallID: call.ID, Name: "list_events", Content: "2026-12-24 Dentist\n2026-12-25 Holiday\n"},
			want:   []string{"Here is what list_events returned:", "2026-12-24 Dentist\n2026-12-25 Holiday"},
		},
		{
			name:   "name from the call",
			result: ToolResult{CallID: call.ID, Content: "nothing today"},
			want:   []string{"Here is what list_events returned:", "nothing today"},
		},
		{
			name:    "long result is cut",
			result:  ToolResult{CallID: call.ID, Name: "list_events", Content: longLine},
			want:    []string{"Here is what list_events returned:", "…"},
			notWant: []string{longLine},
		},
		{
			name:   "first lines only",
			result: ToolResult{CallID: call.ID, Name: "list_events", Content: "1\n2\n3\n4\n5\n6\n7\n8"},
			want:   []string{"1\n2\n3\n4\n5\n6 …"},
		},
		{
			name:   "error",
			result: ToolResult{CallID: call.ID, Name: "list_events", Content: "calendar backend unavailable", IsError: true},
			want:   []string{"The tool list_events failed: calendar backend unavailable"},
		},
		{
			name:    "unauthorized",
			result:  ToolResult{CallID: call.ID, Name: "list_events", Content: `user has not authorized provider "google"`, IsError: true},
			want:    []string{"you have not authorized google", "Connect google"},
			notWant: []string{"Here is what"},
		},
		{
			name:   "unauthorized without provider",
			result: ToolResult{CallID: call.ID, Name: "list_events", Content: "401 Unauthorized", IsError: true},
			want:   []string{"you have not authorized the provider that it needs"},
		},
		{
			name:   "empty result",
			result: ToolResult{CallID: call.ID, Name: "list_events"},
			want:   []string{"list_events finished and returned nothing."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{
				Messages: []Message{
					{Role: RoleUser, Text: "what's on my calendar?"},
					{Role: RoleAssistant, Text: "I'll call list_events.", ToolCalls: []ToolCall{call}},
					{Role: RoleUser, ToolResults: []ToolResult{tt.result}},
				},
				Tools: calendarTools(),
			}
			resp, err := newTestScripted().Stream(context.Background(), req, nil)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if len(resp.Message.ToolCalls) != 0 {
				t.Errorf("got tool calls %+v after tool results, want none", resp.Message.ToolCalls)
			}
			if resp.StopReason != StopEndTurn {
				t.Errorf("got stop reason %q, want %q", resp.StopReason, StopEndTurn)
			}
			for _, want := range tt.want {
				if !strings.Contains(resp.Message.Text, want) {
					t.Errorf("got text %q, want it to contain %q", resp.Message.Text, want)
				}
			}
			for _, notWant := range tt.notWant {
				if strings.Contains(resp.Message.Text, notWant) {
					t.Errorf("got text %q, want it not to contain %q", resp.Message.Text, notWant)
				}
			}
		})
	}
}

func TestScriptedSummaryOfTwoResults(t *testing.T) {
	req := &Request{Messages: []Message{
		{Role: RoleUser, Text: "list my events and echo done"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "a", Name: "list_events"}, {ID: "b", Name: "echo"}}},
		{Role: RoleUser, ToolResults: []ToolResult{{CallID: "a", Content: "Dentist"}, {CallID: "b", Content: "done"}}},
	}}
	resp, err := newTestScripted().Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	want := "Here is what list_events returned:\nDentist\n\nHere is what echo returned:\ndone"
	if resp.Message.Text != want {
		t.Errorf("got text %q, want %q", resp.Message.Text, want)
	}
}

// TestScriptedNewQuestionAfterCancelledStep answers the new question in a
// user message that also carries the cancelled results of an earlier,
// interrupted step, as the agent sends it after a paused turn expired.
func TestScriptedNewQuestionAfterCancelledStep(t *testing.T) {
	req := &Request{Tools: calendarTools(), Messages: []Message{
		{Role: RoleUser, Text: "what's on my calendar?"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "a", Name: "list_events", Arguments: json.RawMessage(`{}`)}}},
		{Role: RoleUser, ToolResults: []ToolResult{{CallID: "a", Content: "Cancelled: the pause expired.", IsError: true}},
			Text: "what's on my calendar?"},
	}}
	resp, err := newTestScripted().Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0].Name != "list_events" {
		t.Errorf("got calls %+v and text %q, want a new list_events call", resp.Message.ToolCalls, resp.Message.Text)
	}
}

func TestScriptedStreamsTextInChunks(t *testing.T) {
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "echo hello world"}}, Tools: calendarTools()}
	var rec eventRecorder
	resp, err := newTestScripted().Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	textEvents := 0
	for _, event := range rec.events {
		if event.Kind == EventTextDelta {
			textEvents++
		}
	}
	if textEvents < 2 {
		t.Errorf("got %d text deltas, want the text in several chunks", textEvents)
	}
	if got := rec.text(); got != resp.Message.Text {
		t.Errorf("got streamed text %q, want the message text %q", got, resp.Message.Text)
	}
	wantKinds := []EventKind{EventTextDelta, EventToolCallStart, EventToolCallDone}
	if got := rec.kinds(); !reflect.DeepEqual(got, wantKinds) {
		t.Errorf("got event kinds %v, want %v", got, wantKinds)
	}
	if start := rec.events[len(rec.events)-2].ToolCall; start.ID != "call_scripted_1" || start.Name != "echo" || start.Arguments != nil {
		t.Errorf("got start event %+v, want ID call_scripted_1, name echo and no arguments", start)
	}
}

func TestScriptedIsDeterministic(t *testing.T) {
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "list my events and echo done"}}, Tools: calendarTools()}
	first, err := newTestScripted().Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	for range 5 {
		again, err := newTestScripted().Stream(context.Background(), req, nil)
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("got %+v, want the same response as before %+v", again, first)
		}
	}
}

func TestScriptedCallIDsAreUnique(t *testing.T) {
	req := &Request{
		Messages: []Message{
			{Role: RoleUser, Text: "echo one"},
			{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call_scripted_1", Name: "echo"}}},
			{Role: RoleUser, ToolResults: []ToolResult{{CallID: "call_scripted_1", Content: "one"}}},
			{Role: RoleAssistant, Text: "Here is what echo returned:\none"},
			{Role: RoleUser, Text: "echo two"},
		},
		Tools: calendarTools(),
	}
	resp, err := newTestScripted().Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0].ID != "call_scripted_2" {
		t.Errorf("got calls %+v, want one call with ID call_scripted_2", resp.Message.ToolCalls)
	}
}

func TestScriptedStopsOnCancel(t *testing.T) {
	s := newTestScripted()
	s.chunkDelay = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	req := &Request{Messages: []Message{{Role: RoleUser, Text: "hello"}}, Tools: calendarTools()}
	started := time.Now()
	_, err := s.Stream(ctx, req, func(Event) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Errorf("Stream returned after %v, want it to stop promptly", elapsed)
	}
}

func TestScriptedEventHandlerErrorStops(t *testing.T) {
	stop := errors.New("client went away")
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "echo hi"}}, Tools: calendarTools()}
	calls := 0
	_, err := newTestScripted().Stream(context.Background(), req, func(Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("got error %v, want the handler's error", err)
	}
	if calls != 1 {
		t.Errorf("got %d handler calls, want 1", calls)
	}
}

func TestScriptedModelsInfo(t *testing.T) {
	infos := NewScripted().Models()
	want := []Info{{Name: "scripted", Provider: ProviderScripted, Demo: true, DisplayName: "Demo model (scripted, no AI)"}}
	if !reflect.DeepEqual(infos, want) {
		t.Errorf("got %+v, want %+v", infos, want)
	}
}

func TestStem(t *testing.T) {
	tests := []struct{ word, want string }{
		{"events", "event"},
		{"event", "event"},
		{"listing", "list"},
		{"lists", "list"},
		{"searches", "search"},
		{"create", "creat"},
		{"created", "creat"},
		{"creating", "creat"},
		{"entries", "entry"},
		{"address", "address"},
	}
	for _, tt := range tests {
		if got := stem(tt.word); got != tt.want {
			t.Errorf("stem(%q): got %q, want %q", tt.word, got, tt.want)
		}
	}
}
