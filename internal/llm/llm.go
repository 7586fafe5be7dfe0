// Package llm puts the language models that drive an agent behind one small
// interface, Model. A Model streams one assistant message for a conversation
// and reports the tool calls that the message contains. It never runs a tool:
// the caller runs the calls, appends their results as a user message and calls
// Stream again.
//
// Three back ends implement Model:
//
//   - OpenAI speaks the Chat Completions API, so it also serves Ollama, vLLM,
//     LM Studio and other servers that copy that API.
//   - Anthropic speaks the Anthropic Messages API.
//   - Scripted is a demo model without AI and without network access. It picks
//     a tool by matching words and summarizes the tool results.
//
// A Registry maps the model names that the UI and API show to these back ends.
//
// # Design note: one conversation shape for every back end
//
// A conversation is a []Message with two roles. An assistant message carries
// the text and the tool calls of one model step. The tool results of that step
// go into the next user message, in any order, matched to their calls by
// ToolResult.CallID. Each back end converts this shape to its API on every
// request and keeps no conversation state, so a conversation can be stored,
// resumed, or continued with a different model.
//
// # Design note: tool call arguments
//
// ToolCall.Arguments is always a JSON object. A model that sends no arguments
// gets "{}". A model that sends text which is not a JSON object gets
// {"_invalid_json": "<the text>"}, so the call still reaches the caller, who
// can report the error to the model as a tool result. ToolCall.InvalidArguments
// detects that case. When such a call is sent back to an API in a later
// request, the OpenAI back end sends the original text and the Anthropic back
// end sends the wrapper object, because Anthropic accepts only objects there.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Model is a language model that can call tools.
//
// Implementations in this package are safe for concurrent use and keep no
// state between calls.
type Model interface {
	// Stream sends req and returns the complete assistant message. While the
	// message streams in, Stream calls onEvent, in order, for each text delta,
	// for the start of each tool call and for each completed tool call. A nil
	// onEvent is allowed. An error returned by onEvent stops the stream, and
	// Stream returns that error wrapped. Stream does not modify req.
	Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error)
}

// Role is the author of a Message.
type Role string

// Roles of a Message.
const (
	// RoleUser marks the user's messages, and also the messages that carry
	// tool results back to the model.
	RoleUser Role = "user"
	// RoleAssistant marks the model's messages.
	RoleAssistant Role = "assistant"
)

// Message is one entry of a conversation.
type Message struct {
	Role Role
	// Text is the message text. It may be empty in an assistant message that
	// only calls tools, and in a user message that only carries tool results.
	Text string
	// ToolCalls are the calls that an assistant message makes, in the order
	// the model made them.
	ToolCalls []ToolCall
	// ToolResults are the results of the previous assistant message's tool
	// calls. Only user messages carry them, and one message may carry several.
	ToolResults []ToolResult
}

// ToolCall is a request by the model to run one tool.
type ToolCall struct {
	// ID is the API's identifier of the call. A ToolResult names it in CallID.
	ID string
	// Name is the tool's name as given in Request.Tools.
	Name string
	// Arguments is a JSON object. See the package documentation for what it
	// contains when the model sent invalid JSON.
	Arguments json.RawMessage
}

// invalidArgumentsKey is the only key of the object that replaces arguments
// which are not a JSON object.
const invalidArgumentsKey = "_invalid_json"

// InvalidArguments returns the text that the model sent as arguments, and true,
// when that text was not a JSON object. It returns "", false for valid
// arguments.
func (c ToolCall) InvalidArguments() (string, bool) {
	var wrapper map[string]json.RawMessage
	if err := json.Unmarshal(c.Arguments, &wrapper); err != nil || len(wrapper) != 1 {
		return "", false
	}
	raw, ok := wrapper[invalidArgumentsKey]
	if !ok {
		return "", false
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return "", false
	}
	return text, true
}

// ToolResult is the outcome of running one ToolCall.
type ToolResult struct {
	// CallID is the ID of the ToolCall that produced this result.
	CallID string
	// Name is the tool's name. The scripted model uses it in its summary. The
	// APIs match results by CallID only.
	Name string
	// Content is the text that the model reads.
	Content string
	// IsError marks a failed call. Anthropic receives it as is_error. OpenAI
	// has no such field, so Content is sent with an "error: " prefix.
	IsError bool
}

// Tool is a tool that the model may call.
type Tool struct {
	Name        string
	Description string
	// InputSchema is the JSON Schema of the arguments object. Empty means an
	// object without properties.
	InputSchema json.RawMessage
}

// Request is one call to a Model.
type Request struct {
	// Model is the API's model name. Empty means the back end's first
	// configured model, or the registered name for a Model from a Registry.
	Model string
	// System is the system prompt. Empty sends none.
	System   string
	Messages []Message
	Tools    []Tool
	// Temperature is the sampling temperature. Nil leaves it to the API.
	Temperature *float64
	// MaxTokens is the maximum number of tokens to generate. Zero leaves it
	// to the API, except for Anthropic, which requires a value and gets 4096.
	MaxTokens int
}

// EventKind is the kind of an Event.
type EventKind string

// Kinds of Event.
const (
	// EventTextDelta carries the next piece of the assistant's text in
	// Event.Text.
	EventTextDelta EventKind = "text_delta"
	// EventToolCallStart announces a tool call whose ID and name are known
	// but whose arguments are still streaming. Event.ToolCall.Arguments is
	// nil.
	EventToolCallStart EventKind = "tool_call_start"
	// EventToolCallDone carries a complete tool call in Event.ToolCall.
	EventToolCallDone EventKind = "tool_call_done"
)

// Event is one step of a streaming response.
type Event struct {
	Kind EventKind
	// Text is set for EventTextDelta.
	Text string
	// ToolCall is set for EventToolCallStart and EventToolCallDone. The
	// receiver may keep it, because the back end does not change it later.
	ToolCall *ToolCall
}

// StopReason is the reason the model stopped generating.
type StopReason string

// Reasons why the model stopped.
const (
	// StopEndTurn means the model finished its reply.
	StopEndTurn StopReason = "end_turn"
	// StopToolUse means the model waits for the results of its tool calls.
	StopToolUse StopReason = "tool_use"
	// StopMaxTokens means the output reached Request.MaxTokens or the
	// model's limit. The text or the last tool call may be cut off.
	StopMaxTokens StopReason = "max_tokens"
	// StopOther covers every other reason, such as a content filter, a
	// refusal or a stop sequence.
	StopOther StopReason = "other"
)

// Usage counts the tokens of one request. Zero means the API did not report
// the count.
type Usage struct {
	InputTokens  int
	OutputTokens int
}

// Response is the result of Model.Stream.
type Response struct {
	// Message is the complete assistant message, with Role RoleAssistant.
	Message    Message
	StopReason StopReason
	Usage      Usage
}

// normalizeArguments returns the tool call arguments that the package
// documentation promises: the model's text when it is a JSON object, "{}" when
// it is blank, and the _invalid_json wrapper otherwise.
func normalizeArguments(text string) json.RawMessage {
	trimmed := bytes.TrimSpace([]byte(text))
	if len(trimmed) == 0 {
		return json.RawMessage("{}")
	}
	if trimmed[0] == '{' && json.Valid(trimmed) {
		return json.RawMessage(trimmed)
	}
	wrapper, _ := json.Marshal(map[string]string{invalidArgumentsKey: text})
	return wrapper
}

// emit calls onEvent unless it is nil.
func emit(onEvent func(Event) error, event Event) error {
	if onEvent == nil {
		return nil
	}
	return onEvent(event)
}

// validateMessages checks the roles of a conversation before it is converted
// for an API.
func validateMessages(messages []Message) error {
	for i, m := range messages {
		switch m.Role {
		case RoleUser:
			if len(m.ToolCalls) > 0 {
				return fmt.Errorf("message %d: a user message cannot contain tool calls", i)
			}
		case RoleAssistant:
			if len(m.ToolResults) > 0 {
				return fmt.Errorf("message %d: an assistant message cannot contain tool results", i)
			}
		default:
			return fmt.Errorf("message %d: unknown role %q, want %q or %q", i, m.Role, RoleUser, RoleAssistant)
		}
	}
	return nil
}
