package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/store"
)

// Tool call statuses, as sessions report them and tool_result events
// carry them.
const (
	StatusRunning       = "running"
	StatusDone          = "done"
	StatusFailed        = "failed"
	StatusAwaitingAuth  = "awaiting_authorization"
	StatusNotAuthorized = "not_authorized"
	StatusCancelled     = "cancelled"
)

// message is the stored form of one conversation entry (the JSON in
// store.ChatMessage.Content), and the form GET /sessions/{id} returns.
type message struct {
	ID          string       `json:"id"`
	Role        llm.Role     `json:"role"`
	Text        string       `json:"text,omitempty"`
	ToolCalls   []toolCall   `json:"tool_calls,omitempty"`
	ToolResults []toolResult `json:"tool_results,omitempty"`
	// Model names the model that wrote an assistant message.
	Model     string    `json:"model,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

type toolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	ServerID  string          `json:"server_id,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments"`
	// Status is filled in for views; it is not stored.
	Status string `json:"status,omitempty"`
}

type toolResult struct {
	CallID  string `json:"tool_use_id"`
	Name    string `json:"name"`
	Content string `json:"content"`
	IsError bool   `json:"is_error,omitempty"`
	Status  string `json:"status"`
}

func (m *message) llm() llm.Message {
	out := llm.Message{Role: m.Role, Text: m.Text}
	for _, c := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
	}
	for _, r := range m.ToolResults {
		out.ToolResults = append(out.ToolResults, llm.ToolResult{CallID: r.CallID, Name: r.Name, Content: r.Content, IsError: r.IsError})
	}
	return out
}

func (m *message) stored(turnID string) (store.ChatMessage, error) {
	content, err := json.Marshal(m)
	if err != nil {
		return store.ChatMessage{}, fmt.Errorf("agent: encode message: %w", err)
	}
	return store.ChatMessage{ID: m.ID, TurnID: turnID, Role: string(m.Role), Content: content, CreatedAt: m.CreatedAt}, nil
}

func decodeMessages(rows []store.ChatMessage) ([]message, error) {
	out := make([]message, 0, len(rows))
	for _, row := range rows {
		var m message
		if err := json.Unmarshal(row.Content, &m); err != nil {
			return nil, fmt.Errorf("agent: decode message %s: %w", row.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// conversation converts stored messages for a model request. Consecutive
// user messages (tool results followed by a new question, for example)
// merge into one, because model APIs expect the roles to alternate.
//
// A tool call without a stored result gets a cancelled one, because
// model APIs reject a conversation with an unanswered call. The runtime
// stores a result for every call, so only a turn that died midway (the
// process stopped during a tool call, or the database failed) leaves one.
func conversation(msgs []message) []llm.Message {
	var out []llm.Message
	// open holds the calls of the last assistant message that have no
	// result yet.
	var open []toolCall
	closeOpen := func() {
		if len(open) == 0 {
			return
		}
		var results []llm.ToolResult
		for _, c := range open {
			res := cancelledResult(c, "the turn ended before this call finished")
			results = append(results, llm.ToolResult{CallID: res.CallID, Name: res.Name, Content: res.Content, IsError: res.IsError})
		}
		open = nil
		if n := len(out); n > 0 && out[n-1].Role == llm.RoleUser {
			out[n-1].ToolResults = append(out[n-1].ToolResults, results...)
			return
		}
		out = append(out, llm.Message{Role: llm.RoleUser, ToolResults: results})
	}

	for i := range msgs {
		m := msgs[i].llm()
		if m.Role == llm.RoleAssistant {
			closeOpen()
			out = append(out, m)
			open = slices.Clone(msgs[i].ToolCalls)
			continue
		}
		for _, r := range m.ToolResults {
			open = slices.DeleteFunc(open, func(c toolCall) bool { return c.ID == r.CallID })
		}
		if n := len(out); n > 0 && out[n-1].Role == llm.RoleUser {
			prev := &out[n-1]
			prev.ToolResults = append(prev.ToolResults, m.ToolResults...)
			switch {
			case prev.Text == "":
				prev.Text = m.Text
			case m.Text != "":
				prev.Text += "\n\n" + m.Text
			}
			continue
		}
		out = append(out, m)
	}
	closeOpen()
	return out
}
