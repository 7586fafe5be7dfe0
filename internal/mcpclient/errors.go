package mcpclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/toolgate/toolgate/internal/problem"
)

// Errors returned by Registry and Client methods. Callers compare with
// errors.Is.
var (
	// ErrNotFound means no MCP server has the id.
	ErrNotFound = errors.New("mcpclient: not found")
	// ErrAlreadyExists means an MCP server with the id exists.
	ErrAlreadyExists = errors.New("mcpclient: already exists")
	// ErrDisabled means the MCP server exists but an admin disabled it.
	ErrDisabled = errors.New("mcpclient: server is disabled")
	// ErrConfigChanged means an admin changed the server while its catalog
	// was being fetched, so the fetched catalog was not stored.
	ErrConfigChanged = errors.New("mcpclient: server configuration changed during the fetch")

	// ErrAuth matches every *AuthError: the server rejected the user's
	// token, or a tool reported that its own upstream did. The token may be
	// expired, revoked or invalid, so the caller refreshes it and retries
	// once, and requests the user's consent again when that fails too.
	ErrAuth = errors.New("mcpclient: authorization rejected")
	// ErrUnavailable matches every *UnavailableError.
	ErrUnavailable = errors.New("mcpclient: server unavailable")
)

// Source values of AuthError.
const (
	// SourceHTTP means the HTTP response rejected the request.
	SourceHTTP = "http"
	// SourceJSONRPC means a JSON-RPC error response whose message is an
	// auth failure (see IsAuthFailureText).
	SourceJSONRPC = "jsonrpc"
	// SourceToolResult means a tool result with isError set whose text is
	// an auth failure.
	SourceToolResult = "tool_result"
)

// AuthError reports a request that failed because the server, or the API
// behind a tool, rejected the user's credentials. errors.Is(err, ErrAuth)
// is true for it. An *InsufficientScopeError is not an AuthError, because
// a refreshed token carries the same scopes.
type AuthError struct {
	ServerID string
	// Source is SourceHTTP, SourceJSONRPC or SourceToolResult.
	Source string
	// Status is the HTTP status (401, or 403 with error="invalid_token"),
	// or 0 when Source is not SourceHTTP.
	Status int
	// Code is the RFC 6750 error code of the Bearer challenge, such as
	// "invalid_token", or "" when the server sent none.
	Code string
	// Description is the challenge's error_description, or the text of the
	// JSON-RPC error or tool result, cut to maxReportedText bytes.
	Description string
	// ResourceMetadata is the challenge's resource_metadata URL (RFC 9728
	// section 5.1), or "".
	ResourceMetadata string
	// Err is the transport's error, if any.
	Err error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mcpclient: server %q rejected the credentials", e.ServerID)
	switch e.Source {
	case SourceHTTP:
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
	case SourceJSONRPC:
		b.WriteString(" in a JSON-RPC error")
	case SourceToolResult:
		b.WriteString(" in a tool's error result")
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	return b.String()
}

// Is reports whether target is ErrAuth.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

func (e *AuthError) Unwrap() error { return e.Err }

// InsufficientScopeError reports an HTTP 403 whose Bearer challenge has
// error="insufficient_scope" (RFC 6750 section 3.1): the token is valid,
// but the user must consent to more scopes.
type InsufficientScopeError struct {
	ServerID string
	// Scopes are the scopes the challenge names as needed, in its order;
	// empty when the server did not name them.
	Scopes []string
	// Description is the challenge's error_description, or "".
	Description string
	// ResourceMetadata is the challenge's resource_metadata URL, or "".
	ResourceMetadata string
	Err              error
}

func (e *InsufficientScopeError) Error() string {
	msg := fmt.Sprintf("mcpclient: server %q needs more scopes", e.ServerID)
	if len(e.Scopes) > 0 {
		msg += ": " + strings.Join(e.Scopes, " ")
	}
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	return msg
}

func (e *InsufficientScopeError) Unwrap() error { return e.Err }

// Kinds of UnavailableError.
const (
	// KindUnreachable: no HTTP response, because the connection was
	// refused, the name did not resolve, TLS failed, or a redirect left
	// the server's origin.
	KindUnreachable = "unreachable"
	// KindTimeout: the server's timeout passed before it responded.
	KindTimeout = "timeout"
	// KindHTTPStatus: an HTTP status that is neither success nor an auth
	// failure, such as 404 or 503, or a 403 without an RFC 6750 error code.
	KindHTTPStatus = "http_status"
	// KindProtocol: the response is not MCP, such as an HTML page, invalid
	// JSON-RPC, or an unsupported protocol version.
	KindProtocol = "protocol"
)

// UnavailableError reports a server that could not serve the request: it
// is unreachable, too slow, or does not speak MCP. errors.Is(err,
// ErrUnavailable) is true for it. The agent skips the server for the turn
// and shows a warning.
type UnavailableError struct {
	ServerID string
	// Kind is KindUnreachable, KindTimeout, KindHTTPStatus or KindProtocol.
	Kind string
	// Status is the last HTTP status received, or 0 when none was.
	Status int
	// ContentType is the media type of the last response, or "".
	ContentType string
	Err         error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("mcpclient: server %q unavailable (%s)", e.ServerID, e.Kind)
	if e.Kind == KindHTTPStatus {
		msg += fmt.Sprintf(": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// CallError reports a JSON-RPC error response to a request that reached
// the server, such as an unknown tool or invalid arguments. The server
// works, so the agent hands Message to the model as the tool's error.
type CallError struct {
	ServerID string
	Tool     string
	Code     int64
	Message  string
	Err      error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("mcpclient: server %q rejected the call of %q: JSON-RPC error %d: %s", e.ServerID, e.Tool, e.Code, e.Message)
}

func (e *CallError) Unwrap() error { return e.Err }

// TokenError reports that the TokenSource gave no token for the server's
// provider, so no request was sent. Err is the TokenSource's error, which
// shows whether the user has never connected, must consent again, or the
// vault failed.
type TokenError struct {
	ServerID   string
	ProviderID string
	Err        error
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("mcpclient: token for server %q from provider %q: %v", e.ServerID, e.ProviderID, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// ValidationError reports rejected input. Status is 400 for a malformed or
// missing value and 422 for a well-formed provider_id that names no
// provider. Fields names every rejected field with what is wrong and how
// to fix it. No detail contains a header value.
type ValidationError struct {
	Status int
	Fields []problem.FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return fmt.Sprintf("mcpclient: invalid input (%d): %s", e.Status, strings.Join(parts, "; "))
}

// maxReportedText caps the server-supplied text that an error repeats.
const maxReportedText = 300

// clip returns s cut to maxReportedText bytes on a rune boundary, with
// "…" appended when cut.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxReportedText {
		return s
	}
	cut := maxReportedText
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
