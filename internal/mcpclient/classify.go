package mcpclient

// Design note: how a failure is classified
//
// The agent branches on the class of a failed request, so the rules are
// written to be precise rather than broad. A request fails in one of
// these layers, checked in this order:
//
//  1. The caller's context ended. A cancellation is returned as the
//     context's error. A deadline of the caller's that passed is an
//     *UnavailableError of KindTimeout whose Err is the context's error,
//     because the server did not respond in the time the caller allowed.
//  2. HTTP. The go-sdk transports (v1.8.0) turn a 401 or 403 into an
//     error whose text is only the status text ("Unauthorized"). They
//     expose neither the status code nor the WWW-Authenticate header, so
//     every session's
//     http.Client goes through an exchangeRecorder, which keeps the last
//     response's status, challenge and content type, and is read when an
//     error comes back. Requests within one session are sequential,
//     because the standalone SSE stream is disabled, so the last response
//     is the one that failed. Then:
//     - a Bearer challenge with error="insufficient_scope" gives an
//     *InsufficientScopeError with the challenge's scopes;
//     - 401, or a 403 whose challenge has error="invalid_token", gives an
//     *AuthError;
//     - any other non-2xx status gives an *UnavailableError of
//     KindHTTPStatus. A 403 without an RFC 6750 code is one of these,
//     because a new token would not change the server's policy.
//  3. JSON-RPC. An error response whose message IsAuthFailureText gives
//     an *AuthError. During a call that got a 2xx response, any other
//     JSON-RPC error gives a *CallError, because the server works. While
//     connecting or listing, it gives an *UnavailableError of
//     KindProtocol.
//  4. Everything else gives an *UnavailableError: KindTimeout when the
//     server's timeout passed, KindUnreachable when no response came,
//     and KindProtocol otherwise (an HTML page, invalid JSON-RPC, an
//     unsupported protocol version).
//
// A tool result with isError set is the tool's own result, not a failed
// request. CallTool classifies it as an *AuthError only when its text
// IsAuthFailureText.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// authFailureRules are the patterns of IsAuthFailureText. Each one names
// the failure outright, so that prose which merely mentions a status code
// or an auth word does not match.
var authFailureRules = []*regexp.Regexp{
	// The status code 401, introduced as a status: "HTTP 401",
	// "HTTP/1.1 401", "status code 401", "statusCode=401", "error 401",
	// `"status":401`, `"code": 401`. Word boundaries keep "4010" and
	// "/v1/401/items" out.
	regexp.MustCompile(`(?i)(?:\b(?:http(?:/[0-9.]+)?|(?:status|response|error)(?:[ _-]?code)?)|"code")["']?\s*[:=]?\s*["']?401\b`),
	// The status line's words: "401 Unauthorized", "Unauthorized (401)".
	regexp.MustCompile(`(?i)\b401\s*[-:]?\s*unauthori[sz]ed\b|\bunauthori[sz]ed\s*[(\[]\s*401\s*[)\]]`),
	// Error codes of OAuth 2.0 (RFC 6749 section 5.2, RFC 6750 section
	// 3.1, RFC 8628), Slack and AWS, as whole identifiers, so that
	// "invalid_tokens_count" does not match.
	regexp.MustCompile(`(?i)(?:^|[^a-z0-9_])(?:invalid_token|expired_token|token_expired|invalid_grant|token_revoked|invalid_auth|not_authed|expiredtoken)(?:$|[^a-z0-9_])`),
	// The gRPC and Google API status UNAUTHENTICATED, in capitals or as
	// gRPC-Go prints it ("code = Unauthenticated").
	regexp.MustCompile(`\bUNAUTHENTICATED\b|(?i:\bcode\s*=\s*unauthenticated\b)`),
	// A token described as expired, revoked or invalid, where "token" starts
	// a sentence or follows a word that makes it a credential: "Token has
	// been expired or revoked", "The access token expired", "Bearer token
	// is invalid", "jwt expired". "Password reset token expired" does not
	// match, because there the token is the tool's own business.
	regexp.MustCompile(`(?i)(?:^|[.:;!?"]\s*|\b(?:access|bearer|auth|authentication|oauth|api|id|refresh|session|security|your|the|this)[ _-])(?:token|jwt)\s+(?:has\s+|is\s+|was\s+)?(?:been\s+)?(?:expired|revoked|invalid)\b`),
	regexp.MustCompile(`(?i)\binvalid\s+(?:access|bearer|oauth|auth|authentication)\s+token\b`),
	// Fixed phrases of common APIs.
	regexp.MustCompile(`(?i)\b(?:invalid authentication credentials|authentication (?:is )?required)\b`),
	// A bare status word is an auth failure only as the whole message
	// ("Unauthorized", "Error: Unauthenticated."), not inside prose such
	// as "Unauthorized access attempts are logged".
	regexp.MustCompile(`(?i)^\s*(?:error\s*[:-]\s*)?(?:unauthori[sz]ed|unauthenticated|not authenticated)\s*[.!]?\s*$`),
}

// IsAuthFailureText reports whether text, the text of a tool's error
// result or of a JSON-RPC error, states that credentials were rejected: the
// token is missing, expired, revoked or invalid. Such a failure may clear
// after a refresh or a new consent.
//
// The rules match a status code only where the text introduces it as one
// ("HTTP 401", "status code 401"), OAuth and API error codes only as whole
// identifiers ("invalid_token", "invalid_grant"), and a few fixed phrases.
// A bare "Unauthorized" counts only as the whole message. Deliberately
// not matched:
//   - permission failures ("403 Forbidden", "PERMISSION_DENIED", "not
//     authorized to view"), which a new token does not fix;
//   - insufficient_scope, which CallTool reports as an
//     *InsufficientScopeError when it comes as an HTTP challenge;
//   - "session expired", because MCP and the tools' own domains use
//     "session" for many things other than the user's credentials, and
//     the transport handles an expired MCP session itself.
func IsAuthFailureText(text string) bool {
	for _, rule := range authFailureRules {
		if rule.MatchString(text) {
			return true
		}
	}
	return false
}

// classify turns an error from the go-sdk into one of the package's
// typed errors, following the design note above. op names the operation
// for the error text, tool is the tool being called or "", opCtx is the
// context bounded by the server's timeout and parent the caller's.
func classify(parent, opCtx context.Context, serverID, op, tool string, rec *exchangeRecorder, err error) error {
	// 1. The caller's context ended.
	if parent.Err() != nil {
		cause := context.Cause(parent)
		if errors.Is(parent.Err(), context.DeadlineExceeded) {
			return &UnavailableError{ServerID: serverID, Kind: KindTimeout, Err: fmt.Errorf("%s: %w", op, cause)}
		}
		return fmt.Errorf("mcpclient: %s on server %q: %w", op, serverID, cause)
	}

	// 2. HTTP.
	last, hasResponse := rec.last()
	if hasResponse {
		if scoped := insufficientScope(serverID, last, err); scoped != nil {
			return scoped
		}
		if auth := httpAuthFailure(serverID, last, err); auth != nil {
			return auth
		}
		if last.status < 200 || last.status > 299 {
			return &UnavailableError{ServerID: serverID, Kind: KindHTTPStatus, Status: last.status, ContentType: last.contentType, Err: err}
		}
	}

	// 3. JSON-RPC.
	var wire *jsonrpc.Error
	if errors.As(err, &wire) {
		if IsAuthFailureText(wire.Message) {
			return &AuthError{ServerID: serverID, Source: SourceJSONRPC, Description: clip(wire.Message), Err: err}
		}
		if tool != "" && hasResponse {
			return &CallError{ServerID: serverID, Tool: tool, Code: wire.Code, Message: clip(wire.Message), Err: err}
		}
	}

	// 4. The server could not serve the request.
	u := &UnavailableError{ServerID: serverID, Kind: KindProtocol, Err: err}
	if hasResponse {
		u.Status, u.ContentType = last.status, last.contentType
	}
	switch {
	case errors.Is(opCtx.Err(), context.DeadlineExceeded):
		u.Kind = KindTimeout
	case !hasResponse || isNetworkError(err):
		u.Kind = KindUnreachable
	}
	return u
}

// insufficientScope returns an *InsufficientScopeError when the response
// carries a Bearer challenge with error="insufficient_scope", or nil.
func insufficientScope(serverID string, last exchange, err error) error {
	c, ok := bearerChallenge(last.challenges)
	if !ok || c.Params["error"] != "insufficient_scope" {
		return nil
	}
	return &InsufficientScopeError{
		ServerID:         serverID,
		Scopes:           strings.Fields(c.Params["scope"]),
		Description:      clip(c.Params["error_description"]),
		ResourceMetadata: c.Params["resource_metadata"],
		Err:              err,
	}
}

// httpAuthFailure returns an *AuthError for a 401, or for a 403 whose
// Bearer challenge has error="invalid_token", or nil.
func httpAuthFailure(serverID string, last exchange, err error) error {
	c, _ := bearerChallenge(last.challenges)
	code := c.Params["error"]
	if last.status != http.StatusUnauthorized && (last.status != http.StatusForbidden || code != "invalid_token") {
		return nil
	}
	return &AuthError{
		ServerID:         serverID,
		Source:           SourceHTTP,
		Status:           last.status,
		Code:             code,
		Description:      clip(c.Params["error_description"]),
		ResourceMetadata: c.Params["resource_metadata"],
		Err:              err,
	}
}

// isNetworkError reports whether err means no HTTP response arrived.
func isNetworkError(err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var redirect *redirectError
	return errors.As(err, &netErr) || errors.As(err, &dnsErr) || errors.As(err, &certErr) || errors.As(err, &redirect)
}
