package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeModel is an OpenAI-compatible Chat Completions server that plays the
// model from a script. It streams the real chunk format (server-sent
// events ending in "data: [DONE]").
//
// Its rules, applied to each request's last message:
//   - a user message whose text has a plan: the plan's tool calls, all in
//     one step;
//   - a user message without a plan: the text "No tools needed for: …";
//   - tool messages, one of which contains the text of a retry plan: that
//     plan's calls, once;
//   - other tool messages: the text "Tool results: " followed by the
//     content of each trailing tool message, joined with " | ".
//
// Like the real API, it rejects a conversation in which an assistant
// message has a tool call without a tool message that follows it.
//
// It is safe for concurrent use.
type fakeModel struct {
	URL string

	// mu guards the fields below.
	mu       sync.Mutex
	plans    map[string][]plannedCall
	retries  map[string][]plannedCall
	requests []fakeChatRequest
}

// plannedCall is one tool call the fake model makes.
type plannedCall struct {
	Name      string
	Arguments string
}

// fakeChatRequest is the part of a Chat Completions request the fake reads.
type fakeChatRequest struct {
	Model    string            `json:"model"`
	Stream   bool              `json:"stream"`
	Messages []fakeChatMessage `json:"messages"`
	Tools    []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

type fakeChatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// text returns the message content, which the API allows as a string or
// as an array of text parts.
func (m fakeChatMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(m.Content, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// startFakeModel starts a fakeModel on a loopback httptest server.
func startFakeModel(t *testing.T) *fakeModel {
	t.Helper()
	m := &fakeModel{plans: map[string][]plannedCall{}, retries: map[string][]plannedCall{}}
	srv := httptest.NewServer(http.HandlerFunc(m.serveChat))
	t.Cleanup(srv.Close)
	m.URL = srv.URL + "/v1"
	return m
}

// plan makes the model respond to the user text with calls.
func (m *fakeModel) plan(userText string, calls ...plannedCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans[userText] = calls
}

// planRetry makes the model respond to tool results that contain
// resultText with calls, once.
func (m *fakeModel) planRetry(resultText string, calls ...plannedCall) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries[resultText] = calls
}

// lastRequest returns the most recent request.
func (m *fakeModel) lastRequest() fakeChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) == 0 {
		return fakeChatRequest{}
	}
	return m.requests[len(m.requests)-1]
}

func (m *fakeModel) serveChat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req fakeChatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Stream || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"want a streaming request with messages","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}

	if problem := unansweredCall(req.Messages); problem != "" {
		http.Error(w, `{"error":{"message":"`+problem+`","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}

	m.mu.Lock()
	m.requests = append(m.requests, req)
	text, calls := m.answerLocked(req.Messages)
	m.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta map[string]any, finish any) {
		body, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		fmt.Fprintf(w, "data: %s\n\n", body)
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	// The text streams in pieces of up to 24 bytes, so a turn shows
	// several text_delta events.
	for rest := text; rest != ""; {
		n := min(24, len(rest))
		chunk(map[string]any{"content": rest[:n]}, nil)
		rest = rest[n:]
	}
	for i, c := range calls {
		chunk(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": c.id, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""},
		}}}, nil)
		chunk(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "function": map[string]any{"arguments": c.Arguments},
		}}}, nil)
	}
	finish := "stop"
	if len(calls) > 0 {
		finish = "tool_calls"
	}
	chunk(map[string]any{}, finish)
	usage, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": req.Model,
		"choices": []any{}, "usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
	fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", usage)
}

// identifiedCall is a plannedCall with the id the model gave it.
type identifiedCall struct {
	plannedCall
	id string
}

// answerLocked applies the rules of fakeModel. m.mu must be held.
func (m *fakeModel) answerLocked(msgs []fakeChatMessage) (string, []identifiedCall) {
	last := msgs[len(msgs)-1]
	var plan []plannedCall
	if last.Role == "tool" {
		var results []string
		for i := len(msgs) - 1; i >= 0 && msgs[i].Role == "tool"; i-- {
			results = append([]string{msgs[i].text()}, results...)
		}
		joined := strings.Join(results, " | ")
		for text, calls := range m.retries {
			if strings.Contains(joined, text) {
				plan = calls
				delete(m.retries, text)
				break
			}
		}
		if plan == nil {
			return "Tool results: " + joined, nil
		}
	} else {
		var ok bool
		if plan, ok = m.plans[last.text()]; !ok {
			return "No tools needed for: " + last.text(), nil
		}
	}
	// Ids restart in every response, as with servers that number the
	// calls of a message (and as internal/llm numbers calls that come
	// without an id), so ids repeat across the steps of a session.
	var calls []identifiedCall
	for i, c := range plan {
		calls = append(calls, identifiedCall{plannedCall: c, id: fmt.Sprintf("call_%d", i+1)})
	}
	return "", calls
}

// unansweredCall returns a description of the first tool call that no
// tool message answers before the next non-tool message, or "".
func unansweredCall(msgs []fakeChatMessage) string {
	for i, m := range msgs {
		answered := map[string]bool{}
		for j := i + 1; j < len(msgs) && msgs[j].Role == "tool"; j++ {
			answered[msgs[j].ToolCallID] = true
		}
		for _, c := range m.ToolCalls {
			if !answered[c.ID] {
				return fmt.Sprintf("messages[%d]: tool call %s has no tool message answering it", i, c.ID)
			}
		}
	}
	return ""
}
