package agent

import "encoding/json"

// Event names of a turn's stream, in the order a turn can send them:
// turn_start, then text_delta, tool_use, tool_result, warning and
// oauth_required in any order, then one done. error comes before done
// when the turn fails.
const (
	EventTurnStart     = "turn_start"
	EventTextDelta     = "text_delta"
	EventToolUse       = "tool_use"
	EventToolResult    = "tool_result"
	EventWarning       = "warning"
	EventOAuthRequired = "oauth_required"
	EventError         = "error"
	EventDone          = "done"
)

// Stop reasons of the done event.
const (
	StopEndTurn       = "end_turn"
	StopInterrupt     = "interrupt"
	StopMaxIterations = "max_iterations"
	StopCancelled     = "cancelled"
	StopError         = "error"
)

// Event is one event of a turn's stream. Data is one of the *Data types
// below and encodes as the event's JSON.
type Event struct {
	Name string
	Data any
}

// TurnStartData opens every turn's stream.
type TurnStartData struct {
	TurnID    string `json:"turn_id"`
	SessionID string `json:"session_id"`
	Model     string `json:"model"`
	// ModelDisplayName labels the model in the UI; Demo is true for the
	// scripted demo model, which the UI must label as such.
	ModelDisplayName string `json:"model_display_name"`
	Demo             bool   `json:"demo"`
	// Resumed is true when the turn continues a paused one.
	Resumed bool `json:"resumed"`
}

// TextDeltaData is the next piece of the assistant's text.
type TextDeltaData struct {
	MessageID string `json:"message_id"`
	Text      string `json:"text"`
}

// ToolUseData announces a tool call that is about to run (or wait).
type ToolUseData struct {
	ToolUseID string          `json:"tool_use_id"`
	MessageID string          `json:"message_id"`
	Name      string          `json:"name"`
	ServerID  string          `json:"server_id,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolResultData reports how a tool call ended.
type ToolResultData struct {
	ToolUseID string `json:"tool_use_id"`
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	IsError   bool   `json:"is_error"`
	Content   string `json:"content"`
}

// OAuthRequiredData asks the user to connect an account so that a paused
// tool call can run.
type OAuthRequiredData struct {
	InterruptID      string   `json:"interrupt_id"`
	ProviderID       string   `json:"provider_id"`
	ConsentID        string   `json:"consent_id"`
	AuthorizationURL string   `json:"authorization_url"`
	ToolUseID        string   `json:"tool_use_id"`
	MessageID        string   `json:"message_id"`
	Reason           string   `json:"reason"`
	Scopes           []string `json:"scopes,omitempty"`
}

// ErrorData reports a failure that ends the turn.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DoneData closes every turn's stream.
type DoneData struct {
	TurnID     string `json:"turn_id"`
	StopReason string `json:"stop_reason"`
}
