package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

const anthropicTestKey = "sk-ant-test-0123456789abcdef"

// newTestAnthropic returns a back end for fake that does not retry.
func newTestAnthropic(t *testing.T, fake *fakeServer) *Anthropic {
	t.Helper()
	a, err := NewAnthropic(AnthropicOptions{
		BaseURL:    fake.server.URL,
		APIKey:     anthropicTestKey,
		Models:     []string{"claude-sonnet-4-5", "claude-haiku-4-5"},
		HTTPClient: fake.server.Client(),
		MaxRetries: -1,
	})
	if err != nil {
		t.Fatalf("NewAnthropic: %v", err)
	}
	return a
}

// sseEvent formats one server-sent event with a name, as the Messages API
// sends them.
func sseEvent(name, data string) string {
	return fmt.Sprintf("event: %s\ndata: %s\n\n", name, data)
}

// writeAnthropicStream responds with events, flushing after each.
func writeAnthropicStream(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, event := range events {
		io.WriteString(w, event)
		w.(http.Flusher).Flush()
	}
}

// Events of the Messages stream used by several tests.
var (
	messageStart = sseEvent("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`)
	messageStop  = sseEvent("message_stop", `{"type":"message_stop"}`)
	ping         = sseEvent("ping", `{"type":"ping"}`)
)

func textBlockStart(index int) string {
	return sseEvent("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, index))
}

func textDelta(index int, text string) string {
	return sseEvent("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%q}}`, index, text))
}

func toolUseStart(index int, id, name string) string {
	return sseEvent("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, index, id, name))
}

func inputJSONDelta(index int, partial string) string {
	return sseEvent("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%q}}`, index, partial))
}

func blockStop(index int) string {
	return sseEvent("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, index))
}

func messageDelta(stopReason string, outputTokens int) string {
	return sseEvent("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`, stopReason, outputTokens))
}

func TestAnthropicStreamsText(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w,
			messageStart,
			textBlockStart(0),
			ping,
			textDelta(0, "Hel"),
			textDelta(0, "lo!"),
			blockStop(0),
			messageDelta("end_turn", 7),
			messageStop,
		)
	})
	temperature := 0.3
	req := &Request{
		Model:       "claude-haiku-4-5",
		System:      "Be brief.",
		Messages:    []Message{{Role: RoleUser, Text: "Say hello"}},
		Temperature: &temperature,
	}

	var rec eventRecorder
	resp, err := newTestAnthropic(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	if got := rec.text(); got != "Hello!" {
		t.Errorf("got streamed text %q, want %q", got, "Hello!")
	}
	want := &Response{
		Message:    Message{Role: RoleAssistant, Text: "Hello!"},
		StopReason: StopEndTurn,
		Usage:      Usage{InputTokens: 25, OutputTokens: 7},
	}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("got response %+v, want %+v", resp, want)
	}

	sent := fake.lastRequest(t)
	if sent.method != http.MethodPost || sent.path != "/v1/messages" {
		t.Errorf("got %s %s, want POST /v1/messages", sent.method, sent.path)
	}
	// anthropic-sdk-go v2.17.0 sends the API key as a bearer token.
	if got := sent.header.Get("Authorization"); got != "Bearer "+anthropicTestKey {
		t.Errorf("got Authorization %q, want the bearer key", got)
	}
	if got := sent.header.Get("Anthropic-Version"); got == "" {
		t.Error("got no anthropic-version header, want one")
	}
	if got := sent.body["model"]; got != "claude-haiku-4-5" {
		t.Errorf("got model %v, want claude-haiku-4-5", got)
	}
	if got := sent.body["stream"]; got != true {
		t.Errorf("got stream %v, want true", got)
	}
	if got := sent.body["max_tokens"]; got != 4096.0 {
		t.Errorf("got max_tokens %v, want the default 4096", got)
	}
	if got := sent.body["temperature"]; got != 0.3 {
		t.Errorf("got temperature %v, want 0.3", got)
	}
	wantSystem := []any{map[string]any{"type": "text", "text": "Be brief."}}
	if got := sent.body["system"]; !reflect.DeepEqual(got, wantSystem) {
		t.Errorf("got system %v, want %v", got, wantSystem)
	}
	wantMessages := []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Say hello"}}}}
	if got := sent.body["messages"]; !reflect.DeepEqual(got, wantMessages) {
		t.Errorf("got messages %v, want %v", got, wantMessages)
	}
}

func TestAnthropicDefaultModelAndMaxTokens(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, textBlockStart(0), textDelta(0, "cut"), blockStop(0), messageDelta("max_tokens", 10), messageStop)
	})
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}, MaxTokens: 10}
	resp, err := newTestAnthropic(t, fake).Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.StopReason != StopMaxTokens {
		t.Errorf("got stop reason %q, want %q", resp.StopReason, StopMaxTokens)
	}
	sent := fake.lastRequest(t)
	if got := sent.body["model"]; got != "claude-sonnet-4-5" {
		t.Errorf("got model %v, want the first configured model", got)
	}
	if got := sent.body["max_tokens"]; got != 10.0 {
		t.Errorf("got max_tokens %v, want 10", got)
	}
	if _, ok := sent.body["temperature"]; ok {
		t.Errorf("got temperature %v without one in the request, want none", sent.body["temperature"])
	}
}

func TestAnthropicOneToolCall(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w,
			messageStart,
			textBlockStart(0),
			textDelta(0, "Checking."),
			blockStop(0),
			toolUseStart(1, "toolu_01", "get_weather"),
			inputJSONDelta(1, ""),
			inputJSONDelta(1, `{"city": "Pa`),
			inputJSONDelta(1, `ris"}`),
			blockStop(1),
			messageDelta("tool_use", 40),
			messageStop,
		)
	})
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "Weather in Paris?"}}, Tools: weatherTools()}

	var rec eventRecorder
	resp, err := newTestAnthropic(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	wantCall := ToolCall{ID: "toolu_01", Name: "get_weather", Arguments: json.RawMessage(`{"city": "Paris"}`)}
	if !reflect.DeepEqual(resp.Message.ToolCalls, []ToolCall{wantCall}) {
		t.Errorf("got tool calls %+v, want %+v", resp.Message.ToolCalls, wantCall)
	}
	if resp.Message.Text != "Checking." {
		t.Errorf("got text %q, want %q", resp.Message.Text, "Checking.")
	}
	if resp.StopReason != StopToolUse {
		t.Errorf("got stop reason %q, want %q", resp.StopReason, StopToolUse)
	}
	wantKinds := []EventKind{EventTextDelta, EventToolCallStart, EventToolCallDone}
	if got := rec.kinds(); !reflect.DeepEqual(got, wantKinds) {
		t.Errorf("got event kinds %v, want %v", got, wantKinds)
	}

	sent := fake.lastRequest(t)
	wantTools := []any{
		map[string]any{
			"name":        "get_weather",
			"description": "Get the weather for a city",
			"input_schema": map[string]any{
				"type":                 "object",
				"properties":           map[string]any{"city": map[string]any{"type": "string"}},
				"required":             []any{"city"},
				"additionalProperties": false,
			},
		},
		map[string]any{
			"name":         "get_time",
			"description":  "Get the current time",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{}},
		},
	}
	if got := sent.body["tools"]; !reflect.DeepEqual(got, wantTools) {
		t.Errorf("got tools %v, want %v", got, wantTools)
	}
}

func TestAnthropicTwoToolCallsInterleaved(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w,
			messageStart,
			toolUseStart(0, "toolu_a", "get_weather"),
			toolUseStart(1, "toolu_b", "get_time"),
			inputJSONDelta(0, `{"ci`),
			inputJSONDelta(1, `{"zone"`),
			inputJSONDelta(0, `ty":"Oslo"}`),
			inputJSONDelta(1, `:"UTC"}`),
			blockStop(0),
			blockStop(1),
			messageDelta("tool_use", 60),
			messageStop,
		)
	})
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "Weather and time?"}}, Tools: weatherTools()}

	var rec eventRecorder
	resp, err := newTestAnthropic(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	wantCalls := []ToolCall{
		{ID: "toolu_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)},
		{ID: "toolu_b", Name: "get_time", Arguments: json.RawMessage(`{"zone":"UTC"}`)},
	}
	if !reflect.DeepEqual(resp.Message.ToolCalls, wantCalls) {
		t.Errorf("got tool calls %+v, want %+v", resp.Message.ToolCalls, wantCalls)
	}
	if !reflect.DeepEqual(rec.doneCalls(), wantCalls) {
		t.Errorf("got done events %+v, want %+v", rec.doneCalls(), wantCalls)
	}
	wantKinds := []EventKind{EventToolCallStart, EventToolCallStart, EventToolCallDone, EventToolCallDone}
	if got := rec.kinds(); !reflect.DeepEqual(got, wantKinds) {
		t.Errorf("got event kinds %v, want %v", got, wantKinds)
	}
	if resp.StopReason != StopToolUse {
		t.Errorf("got stop reason %q, want %q", resp.StopReason, StopToolUse)
	}
}

func TestAnthropicToolInputQuirks(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   json.RawMessage
	}{
		{"no input fragments", []string{toolUseStart(0, "toolu_1", "get_time"), blockStop(0)}, json.RawMessage(`{}`)},
		{"invalid JSON", []string{toolUseStart(0, "toolu_1", "get_time"), inputJSONDelta(0, `{"zone":`), blockStop(0)}, json.RawMessage(`{"_invalid_json":"{\"zone\":"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				events := append([]string{messageStart}, tt.events...)
				writeAnthropicStream(w, append(events, messageDelta("tool_use", 5), messageStop)...)
			})
			resp, err := newTestAnthropic(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "time?"}}}, nil)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if len(resp.Message.ToolCalls) != 1 {
				t.Fatalf("got tool calls %+v, want one", resp.Message.ToolCalls)
			}
			if got := resp.Message.ToolCalls[0].Arguments; string(got) != string(tt.want) {
				t.Errorf("got arguments %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAnthropicFollowUpMessageShapes(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, textBlockStart(0), textDelta(0, "Oslo is cold."), blockStop(0), messageDelta("end_turn", 5), messageStop)
	})
	req := &Request{
		Messages: []Message{
			{Role: RoleUser, Text: "Weather and time?"},
			{Role: RoleAssistant, Text: "Let me check.", ToolCalls: []ToolCall{
				{ID: "toolu_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)},
				{ID: "toolu_b", Name: "get_time", Arguments: json.RawMessage(`{}`)},
			}},
			{Role: RoleUser, Text: "Thanks.", ToolResults: []ToolResult{
				{CallID: "toolu_a", Name: "get_weather", Content: "-5 °C"},
				{CallID: "toolu_b", Name: "get_time", Content: "provider not authorized", IsError: true},
			}},
			{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "toolu_c", Name: "get_time"}}},
			{Role: RoleUser, ToolResults: []ToolResult{{CallID: "toolu_c", Name: "get_time"}}},
		},
		Tools: weatherTools(),
	}

	resp, err := newTestAnthropic(t, fake).Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Message.Text != "Oslo is cold." {
		t.Errorf("got text %q, want %q", resp.Message.Text, "Oslo is cold.")
	}

	wantMessages := []any{
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "Weather and time?"},
		}},
		map[string]any{"role": "assistant", "content": []any{
			map[string]any{"type": "text", "text": "Let me check."},
			map[string]any{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": map[string]any{"city": "Oslo"}},
			map[string]any{"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": map[string]any{}},
		}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_a", "is_error": false, "content": []any{map[string]any{"type": "text", "text": "-5 °C"}}},
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_b", "is_error": true, "content": []any{map[string]any{"type": "text", "text": "provider not authorized"}}},
			map[string]any{"type": "text", "text": "Thanks."},
		}},
		map[string]any{"role": "assistant", "content": []any{
			map[string]any{"type": "tool_use", "id": "toolu_c", "name": "get_time", "input": map[string]any{}},
		}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_c", "is_error": false},
		}},
	}
	if got := fake.lastRequest(t).body["messages"]; !reflect.DeepEqual(got, wantMessages) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("got messages %s, want %v", gotJSON, wantMessages)
	}
}

func TestAnthropicAPIErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantType    string
		wantMessage string
	}{
		{
			name:        "unauthorized echoes the key",
			status:      http.StatusUnauthorized,
			body:        `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + anthropicTestKey + `"}}`,
			wantType:    "authentication_error",
			wantMessage: "invalid x-api-key [redacted]",
		},
		{
			name:        "server error",
			status:      http.StatusInternalServerError,
			body:        `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
			wantType:    "api_error",
			wantMessage: "Internal server error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := newTestAnthropic(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)

			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got error %v (%T), want an *APIError", err, err)
			}
			want := &APIError{Backend: "anthropic", StatusCode: tt.status, Type: tt.wantType, Message: tt.wantMessage}
			if !reflect.DeepEqual(apiErr, want) {
				t.Errorf("got %+v, want %+v", apiErr, want)
			}
			if strings.Contains(err.Error(), anthropicTestKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("llm: anthropic: HTTP %d", tt.status)) {
				t.Errorf("got error text %q, want it to start with the back end and status", err)
			}
			if got := fake.requestCount(); got != 1 {
				t.Errorf("got %d requests with retries disabled, want 1", got)
			}
		})
	}
}

func TestAnthropicErrorEventInStream(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w,
			messageStart,
			textBlockStart(0),
			textDelta(0, "partial"),
			sseEvent("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`),
		)
	})
	_, err := newTestAnthropic(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)

	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got error %v (%T), want an *APIError", err, err)
	}
	want := &APIError{Backend: "anthropic", Type: "overloaded_error", Message: "Overloaded"}
	if !reflect.DeepEqual(apiErr, want) {
		t.Errorf("got %+v, want %+v", apiErr, want)
	}
}

func TestAnthropicStreamEndsEarly(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, textBlockStart(0), textDelta(0, "half an ans"))
	})
	_, err := newTestAnthropic(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "message_stop") {
		t.Errorf("got error %v, want one about the missing message_stop", err)
	}
}

func TestAnthropicCancelMidStream(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, textBlockStart(0), textDelta(0, "first"))
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := time.Now()
	_, err := newTestAnthropic(t, fake).Stream(ctx, &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, func(Event) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Errorf("Stream returned after %v, want it to stop promptly", elapsed)
	}
}

func TestAnthropicEventHandlerErrorStops(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, toolUseStart(0, "toolu_1", "get_time"), blockStop(0), messageDelta("tool_use", 5), messageStop)
	})
	stop := errors.New("browser disconnected")
	_, err := newTestAnthropic(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, func(Event) error {
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("got error %v, want the handler's error", err)
	}
}

func TestAnthropicModelsInfo(t *testing.T) {
	a, err := NewAnthropic(AnthropicOptions{BaseURL: "http://127.0.0.1:1", Models: []string{"claude-sonnet-4-5"}})
	if err != nil {
		t.Fatalf("NewAnthropic: %v", err)
	}
	want := []Info{{Name: "claude-sonnet-4-5", Provider: ProviderAnthropic, DisplayName: "claude-sonnet-4-5"}}
	if got := a.Models(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestAnthropicIgnoresEnvironment(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-environment")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "token-from-environment")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeAnthropicStream(w, messageStart, textBlockStart(0), textDelta(0, "ok"), blockStop(0), messageDelta("end_turn", 1), messageStop)
	})
	a, err := NewAnthropic(AnthropicOptions{BaseURL: fake.server.URL, Models: []string{"claude-sonnet-4-5"}, HTTPClient: fake.server.Client()})
	if err != nil {
		t.Fatalf("NewAnthropic: %v", err)
	}

	if _, err := a.Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	sent := fake.lastRequest(t)
	if got := sent.header.Get("Authorization"); got != "" {
		t.Errorf("got Authorization %q, want none because the environment must be ignored", got)
	}
	if got := sent.header.Get("X-Api-Key"); got != "" {
		t.Errorf("got X-Api-Key %q, want none because the environment must be ignored", got)
	}
}
