package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// TestConnection opens a session with the server serverID as userID (the
// requesting admin), lists its tools and closes the session. It stores
// nothing. The outcome, including a failure described in plain words, is
// in the TestResult. The error is non-nil only for an unknown server
// (wrapping ErrNotFound), a store failure, or the end of ctx.
func (r *Registry) TestConnection(ctx context.Context, serverID, userID string) (*TestResult, error) {
	t, err := r.client.loadTarget(ctx, serverID)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	tools, info, err := r.client.fetchCatalog(ctx, t, userID)
	result := &TestResult{Server: info, DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("mcpclient: test %q: %w", serverID, context.Cause(ctx))
		}
		result.Error, result.Kind = Describe(err), failureKind(err)
		r.logger.Info("mcp connection test failed", "server_id", serverID, "user_id", userID, "kind", result.Kind, "err", err)
		return result, nil
	}
	result.OK, result.ToolCount = true, len(tools)
	return result, nil
}

// failureKind names the class of err for TestResult.Kind.
func failureKind(err error) string {
	var auth *AuthError
	var scope *InsufficientScopeError
	var token *TokenError
	var unavailable *UnavailableError
	var call *CallError
	switch {
	case errors.As(err, &token):
		return "token"
	case errors.As(err, &scope):
		return "insufficient_scope"
	case errors.As(err, &auth):
		return "auth"
	case errors.As(err, &unavailable):
		return unavailable.Kind
	case errors.As(err, &call):
		return "call_error"
	default:
		return "error"
	}
}

// Describe returns, in plain words, what failed and what to do, for an
// admin or for a warning shown to a user. TestResult.Error and a server's
// last_error hold its text. It never contains a token or a header value,
// because the errors of this package never do. It may repeat text that
// the server sent, cut to 300 bytes. An error of another kind gives its
// Error text.
func Describe(err error) string {
	var auth *AuthError
	var scope *InsufficientScopeError
	var token *TokenError
	var unavailable *UnavailableError
	var call *CallError
	switch {
	case errors.As(err, &token):
		return fmt.Sprintf("no access token from provider %q for this user (%v); connect an account at that provider, then try again", token.ProviderID, token.Err)
	case errors.As(err, &scope):
		msg := "the server accepted the token but needs more scopes"
		if len(scope.Scopes) > 0 {
			msg += fmt.Sprintf(" (%q)", scope.Scopes)
		}
		return msg + "; add them to the provider's scopes and connect again"
	case errors.As(err, &auth):
		return describeAuth(auth)
	case errors.As(err, &unavailable):
		return describeUnavailable(unavailable)
	case errors.As(err, &call):
		return fmt.Sprintf("the server answered with JSON-RPC error %d: %s", call.Code, call.Message)
	default:
		return err.Error()
	}
}

func describeAuth(e *AuthError) string {
	var msg string
	switch e.Source {
	case SourceHTTP:
		msg = fmt.Sprintf("the server rejected the credentials with HTTP %d", e.Status)
		if e.Code != "" {
			msg += " " + e.Code
		}
	default:
		msg = "the server reported an authentication failure"
	}
	if e.Description != "" {
		msg += fmt.Sprintf(" (%s)", e.Description)
	}
	return msg + "; connect the account again, or check the static headers if the server needs an API key"
}

func describeUnavailable(e *UnavailableError) string {
	switch e.Kind {
	case KindTimeout:
		return "the server did not respond within its timeout; check that it is up, or raise the timeout"
	case KindUnreachable:
		cause := e.Err
		var opErr *net.OpError
		var redirect *redirectError
		switch {
		case errors.As(e.Err, &redirect):
			cause = redirect
		case errors.As(e.Err, &opErr):
			cause = opErr
		}
		return fmt.Sprintf("could not reach the server: %v; check the URL and that the server is running", cause)
	case KindHTTPStatus:
		msg := fmt.Sprintf("the server answered HTTP %d %s", e.Status, http.StatusText(e.Status))
		switch {
		case e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed:
			return msg + "; check that the URL is the server's MCP endpoint"
		case e.Status == http.StatusForbidden:
			return msg + "; the server refuses this user or client, which a new token does not change"
		case e.Status >= 500:
			return msg + "; the server failed, so check its logs"
		default:
			return msg
		}
	default:
		if e.ContentType != "" && e.ContentType != "application/json" && e.ContentType != "text/event-stream" {
			return fmt.Sprintf("the server answered with content type %s, which is not MCP; check that the URL is the MCP endpoint and the transport is right", e.ContentType)
		}
		return fmt.Sprintf("the server's answer is not valid MCP (%v); check the URL and the transport", e.Err)
	}
}
