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

const openAITestKey = "sk-test-0123456789abcdef"

// newTestOpenAI returns a back end for fake that does not retry.
func newTestOpenAI(t *testing.T, fake *fakeServer) *OpenAI {
	t.Helper()
	o, err := NewOpenAI(OpenAIOptions{
		BaseURL:    fake.server.URL + "/v1",
		APIKey:     openAITestKey,
		Models:     []string{"gpt-4o-mini", "llama3.2"},
		HTTPClient: fake.server.Client(),
		MaxRetries: -1,
	})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return o
}

// writeOpenAIStream responds with the server-sent events of a streamed chat
// completion: one "data:" line per chunk, then "data: [DONE]".
func writeOpenAIStream(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, chunk := range chunks {
		fmt.Fprintf(w, "data: %s\n\n", chunk)
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// openAIChunk returns a chunk JSON with one choice whose delta and finish
// reason are given as JSON. An empty finishReason sends null.
func openAIChunk(delta, finishReason string) string {
	finish := "null"
	if finishReason != "" {
		finish = fmt.Sprintf("%q", finishReason)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`, delta, finish)
}

// openAIUsageChunk is the final chunk that include_usage requests.
const openAIUsageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`

// toolCallDelta returns a delta with one tool call fragment. Empty id and
// name are left out, as the API does after a call's first fragment.
func toolCallDelta(index int, id, name, arguments string) string {
	return fmt.Sprintf(`{"tool_calls":[%s]}`, toolCallFragment(index, id, name, arguments))
}

// toolCallFragment returns one entry of a delta's tool_calls.
func toolCallFragment(index int, id, name, arguments string) string {
	fields := []string{fmt.Sprintf(`"index":%d`, index)}
	if id != "" {
		fields = append(fields, fmt.Sprintf(`"id":%q,"type":"function"`, id))
	}
	function := []string{fmt.Sprintf(`"arguments":%q`, arguments)}
	if name != "" {
		function = append([]string{fmt.Sprintf(`"name":%q`, name)}, function...)
	}
	fields = append(fields, fmt.Sprintf(`"function":{%s}`, strings.Join(function, ",")))
	return "{" + strings.Join(fields, ",") + "}"
}

func TestOpenAIStreamsText(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w,
			openAIChunk(`{"role":"assistant","content":""}`, ""),
			openAIChunk(`{"content":"Hel"}`, ""),
			openAIChunk(`{"content":"lo!"}`, ""),
			openAIChunk(`{}`, "stop"),
			openAIUsageChunk,
		)
	})
	temperature := 0.2
	req := &Request{
		Model:       "llama3.2",
		System:      "Be brief.",
		Messages:    []Message{{Role: RoleUser, Text: "Say hello"}},
		Temperature: &temperature,
		MaxTokens:   100,
	}

	var rec eventRecorder
	resp, err := newTestOpenAI(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	if got := rec.text(); got != "Hello!" {
		t.Errorf("got streamed text %q, want %q", got, "Hello!")
	}
	want := &Response{
		Message:    Message{Role: RoleAssistant, Text: "Hello!"},
		StopReason: StopEndTurn,
		Usage:      Usage{InputTokens: 12, OutputTokens: 3},
	}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("got response %+v, want %+v", resp, want)
	}

	sent := fake.lastRequest(t)
	if sent.method != http.MethodPost || sent.path != "/v1/chat/completions" {
		t.Errorf("got %s %s, want POST /v1/chat/completions", sent.method, sent.path)
	}
	if got := sent.header.Get("Authorization"); got != "Bearer "+openAITestKey {
		t.Errorf("got Authorization %q, want the bearer key", got)
	}
	if got := sent.body["model"]; got != "llama3.2" {
		t.Errorf("got model %v, want llama3.2", got)
	}
	if got := sent.body["stream"]; got != true {
		t.Errorf("got stream %v, want true", got)
	}
	if got := sent.body["temperature"]; got != 0.2 {
		t.Errorf("got temperature %v, want 0.2", got)
	}
	if got := sent.body["max_completion_tokens"]; got != 100.0 {
		t.Errorf("got max_completion_tokens %v, want 100", got)
	}
	if _, ok := sent.body["max_tokens"]; ok {
		t.Errorf("got max_tokens %v, want it left out", sent.body["max_tokens"])
	}
	wantMessages := []any{
		map[string]any{"role": "system", "content": "Be brief."},
		map[string]any{"role": "user", "content": "Say hello"},
	}
	if got := sent.body["messages"]; !reflect.DeepEqual(got, wantMessages) {
		t.Errorf("got messages %v, want %v", got, wantMessages)
	}
	if got := sent.body["stream_options"]; !reflect.DeepEqual(got, map[string]any{"include_usage": true}) {
		t.Errorf("got stream_options %v, want include_usage true", got)
	}
}

func TestOpenAIDefaultModelAndLegacyMaxTokens(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w, openAIChunk(`{"content":"ok"}`, "stop"))
	})
	o, err := NewOpenAI(OpenAIOptions{
		BaseURL:         fake.server.URL + "/v1",
		Models:          []string{"qwen2.5"},
		HTTPClient:      fake.server.Client(),
		LegacyMaxTokens: true,
	})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}

	req := &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}, MaxTokens: 50}
	if _, err := o.Stream(context.Background(), req, nil); err != nil {
		t.Fatalf("Stream: %v", err)
	}

	sent := fake.lastRequest(t)
	if got := sent.body["model"]; got != "qwen2.5" {
		t.Errorf("got model %v, want the first configured model qwen2.5", got)
	}
	if got := sent.body["max_tokens"]; got != 50.0 {
		t.Errorf("got max_tokens %v, want 50", got)
	}
	if got := sent.header.Get("Authorization"); got != "" {
		t.Errorf("got Authorization %q without an API key, want none", got)
	}
}

func TestOpenAIOneToolCall(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w,
			openAIChunk(`{"role":"assistant","content":"Checking."}`, ""),
			openAIChunk(toolCallDelta(0, "call_abc", "get_weather", ""), ""),
			openAIChunk(toolCallDelta(0, "", "", `{"city":`), ""),
			openAIChunk(toolCallDelta(0, "", "", `"Paris"}`), ""),
			openAIChunk(`{}`, "tool_calls"),
		)
	})
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "Weather in Paris?"}}, Tools: weatherTools()}

	var rec eventRecorder
	resp, err := newTestOpenAI(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	wantCall := ToolCall{ID: "call_abc", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}
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
	if start := rec.events[1].ToolCall; start.ID != "call_abc" || start.Name != "get_weather" {
		t.Errorf("got start event %+v, want ID call_abc and name get_weather", start)
	}

	sent := fake.lastRequest(t)
	wantTools := []any{
		map[string]any{"type": "function", "function": map[string]any{
			"name":        "get_weather",
			"description": "Get the weather for a city",
			"parameters": map[string]any{
				"type":                 "object",
				"properties":           map[string]any{"city": map[string]any{"type": "string"}},
				"required":             []any{"city"},
				"additionalProperties": false,
			},
		}},
		map[string]any{"type": "function", "function": map[string]any{
			"name":        "get_time",
			"description": "Get the current time",
			"parameters":  map[string]any{"type": "object", "properties": map[string]any{}},
		}},
	}
	if got := sent.body["tools"]; !reflect.DeepEqual(got, wantTools) {
		t.Errorf("got tools %v, want %v", got, wantTools)
	}
}

func TestOpenAITwoToolCallsInterleaved(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w,
			openAIChunk(toolCallDelta(0, "call_a", "get_weather", ""), ""),
			openAIChunk(toolCallDelta(1, "call_b", "get_time", ""), ""),
			openAIChunk(toolCallDelta(0, "", "", `{"ci`), ""),
			openAIChunk(toolCallDelta(1, "", "", `{"zone"`), ""),
			// One delta may carry fragments of both calls.
			openAIChunk(`{"tool_calls":[`+toolCallFragment(1, "", "", `:"UTC"}`)+`,`+toolCallFragment(0, "", "", `ty":"Oslo"}`)+`]}`, ""),
			openAIChunk(`{}`, "tool_calls"),
			openAIUsageChunk,
		)
	})
	req := &Request{Messages: []Message{{Role: RoleUser, Text: "Weather and time?"}}, Tools: weatherTools()}

	var rec eventRecorder
	resp, err := newTestOpenAI(t, fake).Stream(context.Background(), req, rec.record)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}

	wantCalls := []ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)},
		{ID: "call_b", Name: "get_time", Arguments: json.RawMessage(`{"zone":"UTC"}`)},
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

func TestOpenAIToolCallQuirks(t *testing.T) {
	tests := []struct {
		name       string
		chunks     []string
		wantCalls  []ToolCall
		wantReason StopReason
	}{
		{
			name: "two calls with the same index",
			chunks: []string{
				openAIChunk(`{"tool_calls":[`+toolCallFragment(0, "call_1", "get_weather", `{"city":"Rome"}`)+`,`+toolCallFragment(0, "call_2", "get_time", `{}`)+`]}`, ""),
				openAIChunk(`{}`, "stop"),
			},
			wantCalls: []ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Rome"}`)},
				{ID: "call_2", Name: "get_time", Arguments: json.RawMessage(`{}`)},
			},
			wantReason: StopToolUse,
		},
		{
			name: "missing ID and empty arguments",
			chunks: []string{
				openAIChunk(toolCallDelta(0, "", "get_time", ""), ""),
				openAIChunk(`{}`, "tool_calls"),
			},
			wantCalls:  []ToolCall{{ID: "call_0", Name: "get_time", Arguments: json.RawMessage(`{}`)}},
			wantReason: StopToolUse,
		},
		{
			name: "invalid JSON arguments",
			chunks: []string{
				openAIChunk(toolCallDelta(0, "call_x", "get_weather", `{"city": Par`), ""),
				openAIChunk(`{}`, "tool_calls"),
			},
			wantCalls:  []ToolCall{{ID: "call_x", Name: "get_weather", Arguments: json.RawMessage(`{"_invalid_json":"{\"city\": Par"}`)}},
			wantReason: StopToolUse,
		},
		{
			name: "cut off by max tokens",
			chunks: []string{
				openAIChunk(toolCallDelta(0, "call_y", "get_weather", `{"ci`), ""),
				openAIChunk(`{}`, "length"),
			},
			wantCalls:  []ToolCall{{ID: "call_y", Name: "get_weather", Arguments: json.RawMessage(`{"_invalid_json":"{\"ci"}`)}},
			wantReason: StopMaxTokens,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				writeOpenAIStream(w, tt.chunks...)
			})
			req := &Request{Messages: []Message{{Role: RoleUser, Text: "go"}}, Tools: weatherTools()}
			resp, err := newTestOpenAI(t, fake).Stream(context.Background(), req, nil)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if !reflect.DeepEqual(resp.Message.ToolCalls, tt.wantCalls) {
				t.Errorf("got tool calls %+v, want %+v", resp.Message.ToolCalls, tt.wantCalls)
			}
			if resp.StopReason != tt.wantReason {
				t.Errorf("got stop reason %q, want %q", resp.StopReason, tt.wantReason)
			}
		})
	}
}

func TestOpenAIFollowUpMessageShapes(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w, openAIChunk(`{"content":"Oslo is cold."}`, "stop"))
	})
	invalid := ToolCall{ID: "call_c", Name: "get_weather", Arguments: normalizeArguments(`{"city": Ber`)}
	req := &Request{
		Messages: []Message{
			{Role: RoleUser, Text: "Weather and time?"},
			{Role: RoleAssistant, Text: "Let me check.", ToolCalls: []ToolCall{
				{ID: "call_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)},
				{ID: "call_b", Name: "get_time", Arguments: json.RawMessage(`{}`)},
				invalid,
			}},
			{Role: RoleUser, Text: "Thanks.", ToolResults: []ToolResult{
				{CallID: "call_a", Name: "get_weather", Content: "-5 °C"},
				{CallID: "call_b", Name: "get_time", Content: "provider not authorized", IsError: true},
				{CallID: "call_c", Name: "get_weather", Content: "invalid arguments", IsError: true},
			}},
		},
		Tools: weatherTools(),
	}

	resp, err := newTestOpenAI(t, fake).Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Message.Text != "Oslo is cold." {
		t.Errorf("got text %q, want %q", resp.Message.Text, "Oslo is cold.")
	}

	wantMessages := []any{
		map[string]any{"role": "user", "content": "Weather and time?"},
		map[string]any{"role": "assistant", "content": "Let me check.", "tool_calls": []any{
			map[string]any{"id": "call_a", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Oslo"}`}},
			map[string]any{"id": "call_b", "type": "function", "function": map[string]any{"name": "get_time", "arguments": `{}`}},
			map[string]any{"id": "call_c", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city": Ber`}},
		}},
		map[string]any{"role": "tool", "tool_call_id": "call_a", "content": "-5 °C"},
		map[string]any{"role": "tool", "tool_call_id": "call_b", "content": "error: provider not authorized"},
		map[string]any{"role": "tool", "tool_call_id": "call_c", "content": "error: invalid arguments"},
		map[string]any{"role": "user", "content": "Thanks."},
	}
	if got := fake.lastRequest(t).body["messages"]; !reflect.DeepEqual(got, wantMessages) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("got messages %s, want %v", gotJSON, wantMessages)
	}
}

func TestOpenAIAPIErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantType    string
		wantMessage string
	}{
		{
			name:        "unauthorized echoes the key",
			status:      http.StatusUnauthorized,
			contentType: "application/json",
			body:        `{"error":{"message":"Incorrect API key provided: ` + openAITestKey + `","type":"invalid_request_error","code":"invalid_api_key"}}`,
			wantType:    "invalid_request_error",
			wantMessage: "Incorrect API key provided: [redacted]",
		},
		{
			name:        "server error in plain text",
			status:      http.StatusInternalServerError,
			contentType: "text/plain",
			body:        "upstream crashed",
			wantMessage: "upstream crashed",
		},
		{
			name:        "ollama error string",
			status:      http.StatusNotFound,
			contentType: "application/json",
			body:        `{"error":"model \"llama9\" not found, try pulling it first"}`,
			wantMessage: `model "llama9" not found, try pulling it first`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			req := &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}
			_, err := newTestOpenAI(t, fake).Stream(context.Background(), req, nil)

			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got error %v (%T), want an *APIError", err, err)
			}
			want := &APIError{Backend: "openai", StatusCode: tt.status, Type: tt.wantType, Message: tt.wantMessage}
			if !reflect.DeepEqual(apiErr, want) {
				t.Errorf("got %+v, want %+v", apiErr, want)
			}
			if strings.Contains(err.Error(), openAITestKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("llm: openai: HTTP %d", tt.status)) {
				t.Errorf("got error text %q, want it to start with the back end and status", err)
			}
			if got := fake.requestCount(); got != 1 {
				t.Errorf("got %d requests with retries disabled, want 1", got)
			}
		})
	}
}

func TestOpenAIRetriesServerError(t *testing.T) {
	var attempts int
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		attempts++
		if attempts == 1 {
			w.Header().Set("Retry-After-Ms", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeOpenAIStream(w, openAIChunk(`{"content":"recovered"}`, "stop"))
	})
	o, err := NewOpenAI(OpenAIOptions{
		BaseURL:    fake.server.URL + "/v1",
		Models:     []string{"gpt-4o-mini"},
		HTTPClient: fake.server.Client(),
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}

	resp, err := o.Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Message.Text != "recovered" {
		t.Errorf("got text %q, want %q", resp.Message.Text, "recovered")
	}
	if got := fake.requestCount(); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func TestOpenAIErrorEventInStream(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w,
			openAIChunk(`{"content":"partial"}`, ""),
			`{"error":{"message":"The server is overloaded","type":"server_error"}}`,
		)
	})
	_, err := newTestOpenAI(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)

	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got error %v, want an *APIError", err)
	}
	want := &APIError{Backend: "openai", Type: "server_error", Message: "The server is overloaded"}
	if !reflect.DeepEqual(apiErr, want) {
		t.Errorf("got %+v, want %+v", apiErr, want)
	}
}

func TestOpenAIStreamEndsEarly(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", openAIChunk(`{"content":"half an ans"}`, ""))
	})
	_, err := newTestOpenAI(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "finish reason") {
		t.Errorf("got error %v, want one about the missing finish reason", err)
	}
}

func TestOpenAICancelMidStream(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", openAIChunk(`{"content":"first"}`, ""))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := time.Now()
	_, err := newTestOpenAI(t, fake).Stream(ctx, &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, func(Event) error {
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

func TestOpenAIEventHandlerErrorStops(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w,
			openAIChunk(`{"content":"one"}`, ""),
			openAIChunk(`{"content":"two"}`, ""),
			openAIChunk(`{}`, "stop"),
		)
	})
	stop := errors.New("browser disconnected")
	calls := 0
	_, err := newTestOpenAI(t, fake).Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, func(Event) error {
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

func TestOpenAIInvalidRequests(t *testing.T) {
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("got a request for an invalid input")
	})
	noModels, err := NewOpenAI(OpenAIOptions{BaseURL: fake.server.URL + "/v1", HTTPClient: fake.server.Client()})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	tests := []struct {
		name  string
		model *OpenAI
		req   *Request
		want  string
	}{
		{"nil request", newTestOpenAI(t, fake), nil, "request is nil"},
		{"no model", noModels, &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, "missing model"},
		{"unknown role", newTestOpenAI(t, fake), &Request{Messages: []Message{{Role: "system", Text: "hi"}}}, `unknown role "system"`},
		{"invalid schema", newTestOpenAI(t, fake), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}, Tools: []Tool{{Name: "bad", InputSchema: json.RawMessage(`[1]`)}}}, `tool "bad": invalid input schema`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.model.Stream(context.Background(), tt.req, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "llm: openai: ") {
				t.Errorf("got error %v, want one starting with \"llm: openai: \" and containing %q", err, tt.want)
			}
		})
	}
}

func TestNewOpenAIRejectsInvalidBaseURL(t *testing.T) {
	for _, baseURL := range []string{"127.0.0.1:11434/v1", "ftp://example.test/v1", "http://"} {
		if _, err := NewOpenAI(OpenAIOptions{BaseURL: baseURL}); err == nil {
			t.Errorf("NewOpenAI(%q): got no error, want one", baseURL)
		}
	}
}

func TestToolCallInvalidArguments(t *testing.T) {
	tests := []struct {
		text    string
		wantRaw string
		wantBad bool
		want    string
	}{
		{"", "", false, `{}`},
		{"  ", "", false, `{}`},
		{`{"a":1}`, "", false, `{"a":1}`},
		{`[1,2]`, `[1,2]`, true, `{"_invalid_json":"[1,2]"}`},
		{`{"a":`, `{"a":`, true, `{"_invalid_json":"{\"a\":"}`},
	}
	for _, tt := range tests {
		call := ToolCall{Arguments: normalizeArguments(tt.text)}
		if string(call.Arguments) != tt.want {
			t.Errorf("normalizeArguments(%q): got %s, want %s", tt.text, call.Arguments, tt.want)
		}
		raw, bad := call.InvalidArguments()
		if raw != tt.wantRaw || bad != tt.wantBad {
			t.Errorf("InvalidArguments for %q: got %q, %v, want %q, %v", tt.text, raw, bad, tt.wantRaw, tt.wantBad)
		}
	}
}

func TestOpenAIIgnoresEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "org-from-environment")
	fake := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeOpenAIStream(w, openAIChunk(`{"content":"ok"}`, "stop"))
	})
	o, err := NewOpenAI(OpenAIOptions{BaseURL: fake.server.URL + "/v1", Models: []string{"llama3.2"}, HTTPClient: fake.server.Client()})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}

	if _, err := o.Stream(context.Background(), &Request{Messages: []Message{{Role: RoleUser, Text: "hi"}}}, nil); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	sent := fake.lastRequest(t)
	if got := sent.header.Get("Authorization"); got != "" {
		t.Errorf("got Authorization %q, want none because OPENAI_API_KEY must be ignored", got)
	}
	if got := sent.header.Get("OpenAI-Organization"); got != "" {
		t.Errorf("got OpenAI-Organization %q, want none because OPENAI_ORG_ID must be ignored", got)
	}
}
