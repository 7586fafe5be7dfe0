package main

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sseEvent is one event of a turn's stream.
type sseEvent struct {
	ID   string
	Name string
	Data json.RawMessage
}

// field returns the string or boolean field name of the event's data as a
// string, or "".
func (e sseEvent) field(name string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Data, &m)
	switch v := m[name].(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// turnStream is the outcome of POST /api/v1/sessions/{id}/turns.
type turnStream struct {
	Status int
	// Body is the raw response: the event stream, or a problem document.
	Body   string
	Events []sseEvent
}

// names returns the event names in order, with each run of text_delta
// events shown once.
func (s *turnStream) names() []string {
	var out []string
	for _, e := range s.Events {
		if e.Name == "text_delta" && len(out) > 0 && out[len(out)-1] == "text_delta" {
			continue
		}
		out = append(out, e.Name)
	}
	return out
}

// all returns the events named name.
func (s *turnStream) all(name string) []sseEvent {
	var out []sseEvent
	for _, e := range s.Events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// one returns the only event named name, failing the test when there is
// not exactly one.
func (s *turnStream) one(t *testing.T, name string) sseEvent {
	t.Helper()
	events := s.all(name)
	if len(events) != 1 {
		t.Fatalf("got %d %s events, want 1; stream:\n%s", len(events), name, s.Body)
	}
	return events[0]
}

// text returns the assistant text the stream carried.
func (s *turnStream) text() string {
	var b strings.Builder
	for _, e := range s.all("text_delta") {
		b.WriteString(e.field("text"))
	}
	return b.String()
}

// wantNames fails the test unless the event names (text_delta runs shown
// once) are want.
func (s *turnStream) wantNames(t *testing.T, want ...string) {
	t.Helper()
	if got := s.names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("event names:\n got %v\nwant %v\nstream:\n%s", got, want, s.Body)
	}
}

// postTurn sends a turn request and reads the whole response. A 200
// response must be a well-formed event stream (see parseEventStream).
func postTurn(t *testing.T, c *http.Client, s *servedToolgate, sessionID, body string) *turnStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/sessions/"+sessionID+"/turns", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", s.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read turn response: %v", err)
	}
	out := &turnStream{Status: resp.StatusCode, Body: string(raw)}
	if resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("turn error response: got content type %q, want application/problem+json", ct)
		}
		return out
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("turn response: got content type %q, want text/event-stream", ct)
	}
	out.Events = parseEventStream(t, out.Body)
	return out
}

// parseEventStream parses a turn's event stream strictly: every event is
// exactly an "id:" line with the next sequence number, an "event:" line
// and one "data:" line holding a JSON object, then a blank line. Comment
// lines (heartbeats) may stand between events. The stream ends with one
// done event.
func parseEventStream(t *testing.T, body string) []sseEvent {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("event stream does not end with a blank line: %q", body)
	}
	var events []sseEvent
	for block := range strings.SplitSeq(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		var lines []string
		for line := range strings.SplitSeq(block, "\n") {
			if !strings.HasPrefix(line, ":") {
				lines = append(lines, line)
			}
		}
		if len(lines) == 0 {
			continue
		}
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], "event: ") ||
			!strings.HasPrefix(lines[2], "data: ") {
			t.Errorf("event block: got %q, want the lines id, event and data", block)
			continue
		}
		e := sseEvent{
			ID:   strings.TrimPrefix(lines[0], "id: "),
			Name: strings.TrimPrefix(lines[1], "event: "),
			Data: json.RawMessage(strings.TrimPrefix(lines[2], "data: ")),
		}
		if want := strconv.Itoa(len(events) + 1); e.ID != want {
			t.Errorf("event %s: got id %q, want %s", e.Name, e.ID, want)
		}
		var obj map[string]any
		if err := json.Unmarshal(e.Data, &obj); err != nil {
			t.Errorf("event %s: data is not a JSON object: %v: %s", e.Name, err, e.Data)
		}
		events = append(events, e)
	}
	if len(events) == 0 || events[len(events)-1].Name != "done" {
		t.Errorf("event stream does not end with a done event:\n%s", body)
	}
	for _, e := range events[:max(len(events)-1, 0)] {
		if e.Name == "done" {
			t.Errorf("event stream has a done event before its end:\n%s", body)
		}
	}
	return events
}

// decodeJSONBody decodes a JSON response body into v, failing the test on
// an error.
func decodeJSONBody(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}
