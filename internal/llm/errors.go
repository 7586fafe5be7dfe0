package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrUnknownModel is returned, wrapped, by Registry.Get for a model name that
// is not registered.
var ErrUnknownModel = errors.New("llm: unknown model")

// maxErrorMessageBytes limits the API's message copied into an APIError, so
// that an HTML error page does not flood a log line.
const maxErrorMessageBytes = 500

// APIError is a model API's report of a failed request: an HTTP error status,
// or an error event inside a stream that had started with 200 OK.
//
// Message never contains the configured API key, because every occurrence of
// the key is replaced before the error is built. APIError deliberately does
// not wrap the SDK's error value, because that value holds the HTTP request
// with its credentials.
type APIError struct {
	// Backend is the back end that made the request: "openai" or "anthropic".
	Backend string
	// StatusCode is the HTTP status. It is zero for an error event inside a
	// stream.
	StatusCode int
	// Type is the error type that the API reported, such as
	// "authentication_error". It may be empty.
	Type string
	// Message is the API's explanation, at most 500 bytes long.
	Message string
}

// Error returns "llm: <backend>: HTTP <status>: <message> (<type>)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: %s: ", e.Backend)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if text := http.StatusText(e.StatusCode); text != "" {
			fmt.Fprintf(&b, " %s", text)
		}
	} else {
		b.WriteString("error event in stream")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, " (%s)", e.Type)
	}
	return b.String()
}

// apiErrorFromResponse builds an APIError from an HTTP response with an error
// status. It reads the body that the SDK put back after reading it, and accepts
// the error shapes of OpenAI and Anthropic ({"error": {"message", "type"}}),
// Ollama ({"error": "text"}) and plain text.
func apiErrorFromResponse(backend string, res *http.Response, apiKey string) *APIError {
	apiErr := &APIError{Backend: backend, StatusCode: res.StatusCode}
	if res.Body == nil {
		return apiErr
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	apiErr.Type, apiErr.Message = parseErrorBody(body)
	apiErr.Type = redactKey(apiErr.Type, apiKey)
	apiErr.Message = redactKey(apiErr.Message, apiKey)
	return apiErr
}

// parseErrorBody extracts the error type and message from an error body.
func parseErrorBody(body []byte) (errorType, message string) {
	var envelope struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return "", string(bytes.TrimSpace(body))
	}
	var detail struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(envelope.Error, &detail); err == nil && (detail.Message != "" || detail.Type != "") {
		return detail.Type, detail.Message
	}
	var text string
	if err := json.Unmarshal(envelope.Error, &text); err == nil && text != "" {
		return "", text
	}
	if envelope.Message != "" {
		return "", envelope.Message
	}
	return "", string(bytes.TrimSpace(body))
}

// redactKey replaces every occurrence of apiKey in text and cuts the result to
// maxErrorMessageBytes at a rune boundary.
func redactKey(text, apiKey string) string {
	if apiKey != "" {
		text = strings.ReplaceAll(text, apiKey, "[redacted]")
	}
	if len(text) <= maxErrorMessageBytes {
		return text
	}
	cut := maxErrorMessageBytes
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// contextError returns the cause of ctx's cancellation wrapped for backend, or
// nil while ctx is live. A back end checks it first, because a canceled request
// also fails inside the SDK with a less useful error.
func contextError(ctx context.Context, backend string) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("llm: %s: %w", backend, context.Cause(ctx))
}
