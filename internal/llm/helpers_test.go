package llm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// eventRecorder collects the events of one Stream call.
type eventRecorder struct {
	events []Event
}

// record is an onEvent callback that keeps each event.
func (r *eventRecorder) record(event Event) error {
	r.events = append(r.events, event)
	return nil
}

// text returns the concatenated text deltas.
func (r *eventRecorder) text() string {
	var b strings.Builder
	for _, event := range r.events {
		if event.Kind == EventTextDelta {
			b.WriteString(event.Text)
		}
	}
	return b.String()
}

// kinds returns the kinds of the recorded events with consecutive text deltas
// merged into one, so that tests do not depend on how text is chunked.
func (r *eventRecorder) kinds() []EventKind {
	var kinds []EventKind
	for _, event := range r.events {
		if event.Kind == EventTextDelta && len(kinds) > 0 && kinds[len(kinds)-1] == EventTextDelta {
			continue
		}
		kinds = append(kinds, event.Kind)
	}
	return kinds
}

// doneCalls returns the tool calls of the EventToolCallDone events.
func (r *eventRecorder) doneCalls() []ToolCall {
	var calls []ToolCall
	for _, event := range r.events {
		if event.Kind == EventToolCallDone {
			calls = append(calls, *event.ToolCall)
		}
	}
	return calls
}

// jsonEqual reports whether two JSON documents have the same value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var gotValue, wantValue any
	if err := json.Unmarshal(got, &gotValue); err != nil {
		t.Fatalf("invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &wantValue); err != nil {
		t.Fatalf("invalid JSON %q: %v", want, err)
	}
	gotNormal, _ := json.Marshal(gotValue)
	wantNormal, _ := json.Marshal(wantValue)
	return bytes.Equal(gotNormal, wantNormal)
}

// weatherTools returns two tools for the back end tests.
func weatherTools() []Tool {
	return []Tool{
		{
			Name:        "get_weather",
			Description: "Get the weather for a city",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`),
		},
		{Name: "get_time", Description: "Get the current time"},
	}
}

// fakeServer is a model API server on 127.0.0.1 that records each request
// and responds through a handler. The tests of both API back ends use it.
type fakeServer struct {
	server *httptest.Server

	mu       sync.Mutex
	requests []recordedRequest // mu guards requests
}

// recordedRequest is one request that a fake server received.
type recordedRequest struct {
	method string
	path   string
	header http.Header
	body   map[string]any
}

// newFakeServer starts a fake server whose responses come from respond. The
// server stops when the test ends.
func newFakeServer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *fakeServer {
	t.Helper()
	fake := &fakeServer{}
	fake.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		var decoded map[string]any
		if err := json.Unmarshal(body, &decoded); err != nil {
			t.Errorf("request body is not a JSON object: %v: %s", err, body)
		}
		fake.mu.Lock()
		fake.requests = append(fake.requests, recordedRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: decoded})
		fake.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(fake.server.Close)
	return fake
}

// lastRequest returns the latest request, failing the test when there is
// none.
func (f *fakeServer) lastRequest(t *testing.T) recordedRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the fake server received no request")
	}
	return f.requests[len(f.requests)-1]
}

// requestCount returns the number of requests received.
func (f *fakeServer) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}
