package agent

import (
	"encoding/json"
	"fmt"

	"github.com/toolgate/toolgate/internal/consent"
)

// pausedStateVersion is the version of pausedState's JSON. A paused turn
// written by another version is treated as expired rather than misread.
const pausedStateVersion = 1

// pausedState is everything needed to continue a paused turn, stored as
// store.PausedTurn.State.
type pausedState struct {
	Version  int      `json:"version"`
	Settings settings `json:"settings"`
	// Iteration is the model step that paused (1-based).
	Iteration int `json:"iteration"`
	// MessageID is the assistant message whose tool calls paused.
	MessageID string `json:"message_id"`
	// Pending are the interrupted calls, in the model's order.
	Pending []pendingCall `json:"pending"`
	// Finished are the results of the step's calls that did run.
	Finished []toolResult `json:"finished"`
	// Prompted lists the providers the user was already asked to connect
	// in this turn.
	Prompted []string `json:"prompted"`
}

// pendingCall is an interrupted tool call.
type pendingCall struct {
	InterruptID string   `json:"interrupt_id"`
	Call        toolCall `json:"call"`
	ProviderID  string   `json:"provider_id"`
	Scopes      []string `json:"scopes,omitempty"`

	// reason and consent are set while the step pauses; they are not
	// stored.
	reason  string
	consent *consent.StartResult
}

// settings are a turn's model settings, kept so that a resumed turn uses
// the same ones.
type settings struct {
	Model         string   `json:"model"`
	SystemPrompt  string   `json:"system_prompt,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	MaxTokens     int      `json:"max_tokens,omitempty"`
	MaxIterations int      `json:"max_iterations"`
	// ToolTimeoutMillis is the per-call time limit.
	ToolTimeoutMillis int64    `json:"tool_timeout_ms"`
	MCPServers        []string `json:"mcp_servers,omitempty"`
}

func decodePausedState(raw json.RawMessage) (*pausedState, error) {
	var s pausedState
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("agent: decode paused turn: %w", err)
	}
	if s.Version != pausedStateVersion {
		return nil, fmt.Errorf("agent: paused turn has state version %d, want %d", s.Version, pausedStateVersion)
	}
	return &s, nil
}

func encodeJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("agent: encode paused turn: %w", err)
	}
	return b, nil
}
