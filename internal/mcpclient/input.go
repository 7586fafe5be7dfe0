package mcpclient

import (
	"encoding/json"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
)

// Transport is the MCP transport that Toolgate uses for a server.
type Transport string

// Transports.
const (
	// TransportStreamableHTTP is the Streamable HTTP transport of MCP
	// 2025-03-26 and later. It is the default.
	TransportStreamableHTTP Transport = "streamable_http"
	// TransportSSE is the HTTP+SSE transport of MCP 2024-11-05, which
	// later versions deprecate. Use it only for servers that offer
	// nothing newer.
	TransportSSE Transport = "sse"
)

// Secret is a static header value, such as an API key. It is the provider
// package's redacting string: printing, logging or encoding it shows
// "[redacted]" when it is set.
type Secret = provider.Secret

// CreateInput is the request body that registers an MCP server. Absent
// optional fields take their zero value, except Transport (default
// streamable_http), Enabled (default true) and Timeout (default 30s).
type CreateInput struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	URL         string    `json:"url"`
	Transport   Transport `json:"transport"`
	// ProviderID names the provider whose user token is sent as bearer
	// token. Empty sends no user token.
	ProviderID string `json:"provider_id"`
	// Headers are static request headers, name to value. They are stored
	// sealed and never returned.
	Headers map[string]Secret `json:"headers"`
	// AllowedRoles limits who is offered the server's tools. Empty allows
	// every signed-in user.
	AllowedRoles []string `json:"allowed_roles"`
	Enabled      *bool    `json:"enabled"`
	// Timeout is a Go duration string ("30s", "2m") from 1s to 5m.
	Timeout string `json:"timeout"`
}

// PatchInput is the request body that changes an MCP server. A nil field
// (an absent or null JSON member) leaves the stored value unchanged. A
// present list or map replaces the stored one whole, so "headers": {}
// removes every static header.
type PatchInput struct {
	// ID cannot change. It is accepted only when equal to the stored id, so
	// that a client may send back what it read.
	ID *string `json:"id"`

	DisplayName  *string            `json:"display_name"`
	URL          *string            `json:"url"`
	Transport    *Transport         `json:"transport"`
	ProviderID   *string            `json:"provider_id"`
	Headers      *map[string]Secret `json:"headers"`
	AllowedRoles *[]string          `json:"allowed_roles"`
	Enabled      *bool              `json:"enabled"`
	Timeout      *string            `json:"timeout"`
}

// View is an MCP server as the admin API shows it. It never contains a
// header value.
type View struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	URL         string    `json:"url"`
	Transport   Transport `json:"transport"`
	ProviderID  string    `json:"provider_id"`
	// HeaderNames lists the static headers' names, sorted.
	HeaderNames  []string `json:"header_names"`
	AllowedRoles []string `json:"allowed_roles"`
	Enabled      bool     `json:"enabled"`
	// Timeout is a Go duration string, such as "30s".
	Timeout string `json:"timeout"`
	// Tools is the cached catalog, empty until a fetch succeeds.
	Tools []ServerTool `json:"tools"`
	// ToolsFetchedAt is when Tools was fetched, or nil when never.
	ToolsFetchedAt *time.Time `json:"tools_fetched_at"`
	// LastError describes the last failed catalog fetch, and is empty
	// after a successful one.
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// ServerTool is one tool of a server's catalog, as the server lists it.
type ServerTool struct {
	// Name is the tool's name at the server.
	Name string `json:"name"`
	// ModelName is the name the model is offered (see ToolName).
	ModelName   string          `json:"model_name"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// TestResult is the outcome of Registry.TestConnection.
type TestResult struct {
	// OK is true when the session opened and the tools were listed.
	OK bool `json:"ok"`
	// Error states in plain words what failed. It is empty when OK.
	Error string `json:"error,omitempty"`
	// Kind classifies the failure: "auth", "insufficient_scope", "token"
	// (no token for the admin), or an UnavailableError kind. Empty when
	// OK.
	Kind string `json:"kind,omitempty"`
	// Server describes the server from its initialize result. It is nil
	// when the session did not open.
	Server *ServerInfo `json:"server,omitempty"`
	// ToolCount is how many tools the server lists.
	ToolCount  int   `json:"tool_count"`
	DurationMS int64 `json:"duration_ms"`
}

// ServerInfo is the server's description from its initialize result.
type ServerInfo struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	ProtocolVersion string `json:"protocol_version"`
}
