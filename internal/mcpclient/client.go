package mcpclient

// Design note: one session per operation
//
// Every operation (a catalog fetch, a test, one tool call) opens its own
// MCP session with the server as the calling user, runs, and closes the
// session. After a success it closes before returning. After a failure it
// closes in the background, because the go-sdk may wait up to 5 seconds
// for a failing server to confirm the end of the session. A turn that
// calls three tools of one server therefore pays three initialize
// handshakes. In exchange:
//
//   - each call sends the token the vault holds at that moment, so a
//     token refreshed between two calls of a turn is used at once;
//   - nothing in memory needs invalidating when an admin changes a server
//     or a replica stops;
//   - a session's requests are strictly sequential (the standalone SSE
//     stream is disabled), which lets the exchangeRecorder attribute an
//     HTTP failure to the request that caused it (see classify.go).
//
// NOTE: a session cache per (user, server, turn) would save the handshake
// for repeated calls. It needs the agent's turn boundary to close
// sessions, which this package does not see.
//
// The server's timeout bounds each operation as a whole: connecting and
// listing tools, or connecting and calling one tool. Fetching the token
// from the TokenSource comes first and is bounded by the caller's context
// only, because a refresh at the provider has its own limits.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/singleflight"

	"github.com/toolgate/toolgate/internal/store"
)

// Client connects to registered MCP servers as a given user: it lists
// their tools for the model and calls them. It is safe for concurrent
// use. Get one from Registry.Client.
type Client struct {
	registry      *Registry
	tokens        TokenSource
	httpClient    *http.Client
	catalogMaxAge time.Duration
	catalogRetry  time.Duration
	now           func() time.Time
	logger        *slog.Logger
	// fetches merges concurrent catalog fetches of one server for one
	// user within this process.
	fetches singleflight.Group
	// targets keeps server configurations briefly for tool calls.
	targets targetCache
}

// Result is the outcome of a tool call that got a response from the
// server.
type Result struct {
	// Text joins the text parts of the result's content with "\n".
	Text string
	// NonText describes each content part that is not text, such as
	// "image (image/png, 5120 bytes)", in order. The parts themselves are
	// not kept.
	NonText []string
	// IsError is the tool's isError flag: the tool ran and reports a
	// failure, which the model should see.
	IsError bool
	// Structured is the result's structuredContent as JSON, or nil when
	// the result has none.
	Structured json.RawMessage
}

// target is a server's stored configuration with its headers opened.
type target struct {
	*store.MCPServer
	headers map[string]string
	origin  *url.URL
}

// CallTool calls the tool toolName of the server serverID as userID, with
// args as the arguments object (nil or empty means {}). It sends the
// user's token from the server's provider, when it has one.
//
// It returns the Result when the server responded to the call, even when
// the tool reports a failure with isError, with one exception: an error
// result whose text IsAuthFailureText gives a nil Result and an
// *AuthError whose Description holds the text. Other failures are
// errors: ErrNotFound or ErrDisabled for the server, a *TokenError when
// the user has no token, an *AuthError, an *InsufficientScopeError, an
// *UnavailableError, a *CallError, or the context's error when ctx is
// canceled. When ctx's deadline passes, the error is an *UnavailableError
// of KindTimeout. The classification rules are in classify.go.
//
// CallTool does not check the server's allowed roles. The caller offers
// only the tools of ToolsFor, which does.
func (c *Client) CallTool(ctx context.Context, userID, serverID, toolName string, args json.RawMessage) (*Result, error) {
	if err := checkArguments(args); err != nil {
		return nil, fmt.Errorf("mcpclient: call %q on server %q: %w", toolName, serverID, err)
	}
	t, err := c.targets.get(ctx, serverID, c.now(), c.loadTarget)
	if err != nil {
		return nil, err
	}
	if !t.Enabled {
		return nil, fmt.Errorf("%w: %q", ErrDisabled, serverID)
	}

	var res *mcp.CallToolResult
	err = c.withSession(ctx, t, userID, "call "+toolName, toolName, false, func(ctx context.Context, cs *mcp.ClientSession) error {
		var callErr error
		res, callErr = cs.CallTool(ctx, &mcp.CallToolParams{Name: toolName, Arguments: arguments(args)})
		return callErr
	})
	if err != nil {
		return nil, err
	}

	result, err := resultFrom(res)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: call %q on server %q: %w", toolName, serverID, err)
	}
	if result.IsError && IsAuthFailureText(result.Text) {
		return nil, &AuthError{ServerID: serverID, Source: SourceToolResult, Description: clip(result.Text)}
	}
	return result, nil
}

// checkArguments accepts nil, empty or a JSON object.
func checkArguments(args json.RawMessage) error {
	trimmed := strings.TrimSpace(string(args))
	if trimmed == "" {
		return nil
	}
	if !strings.HasPrefix(trimmed, "{") || !json.Valid(args) {
		return errors.New("arguments must be a JSON object")
	}
	return nil
}

// arguments returns args for CallToolParams: nil or empty becomes {}.
func arguments(args json.RawMessage) any {
	if strings.TrimSpace(string(args)) == "" {
		return map[string]any{}
	}
	return args
}

// resultFrom converts the SDK's result.
func resultFrom(res *mcp.CallToolResult) (*Result, error) {
	out := &Result{IsError: res.IsError}
	var texts []string
	for _, part := range res.Content {
		switch p := part.(type) {
		case *mcp.TextContent:
			texts = append(texts, p.Text)
		case *mcp.ImageContent:
			out.NonText = append(out.NonText, fmt.Sprintf("image (%s, %d bytes)", p.MIMEType, len(p.Data)))
		case *mcp.AudioContent:
			out.NonText = append(out.NonText, fmt.Sprintf("audio (%s, %d bytes)", p.MIMEType, len(p.Data)))
		case *mcp.ResourceLink:
			out.NonText = append(out.NonText, fmt.Sprintf("resource link %s", p.URI))
		case *mcp.EmbeddedResource:
			uri := ""
			if p.Resource != nil {
				uri = p.Resource.URI
			}
			out.NonText = append(out.NonText, fmt.Sprintf("embedded resource %s", uri))
		default:
			out.NonText = append(out.NonText, fmt.Sprintf("content of type %T", part))
		}
	}
	out.Text = strings.Join(texts, "\n")
	if res.StructuredContent != nil {
		structured, err := json.Marshal(res.StructuredContent)
		if err != nil {
			return nil, fmt.Errorf("encode structured content: %w", err)
		}
		out.Structured = structured
	}
	return out, nil
}

// loadTarget reads the server's configuration, without its tool catalog,
// and opens its static headers.
func (c *Client) loadTarget(ctx context.Context, serverID string) (*target, error) {
	m, err := c.registry.store.GetMCPServerConfig(ctx, serverID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %q", ErrNotFound, serverID)
	case err != nil:
		return nil, fmt.Errorf("mcpclient: get %q: %w", serverID, err)
	}
	headers, err := c.registry.openHeaders(m)
	if err != nil {
		return nil, err
	}
	origin, err := url.Parse(m.URL)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: server %q has an invalid stored URL: %w", serverID, err)
	}
	return &target{MCPServer: m, headers: headers, origin: origin}, nil
}

// withSession opens a session with t as userID, runs fn in it and closes
// it, all within t's timeout. It classifies a failure of the connect or
// of fn (see classify.go). op names the operation for error text, and
// tool is the tool being called, or "".
//
// With anonymous set, a user without a token is not an error yet: the
// session goes without a bearer, because some servers list their tools to
// anyone. If the server then rejects the request, the *TokenError is
// returned as if no request had been made.
func (c *Client) withSession(ctx context.Context, t *target, userID, op, tool string, anonymous bool, fn func(ctx context.Context, cs *mcp.ClientSession) error) error {
	bearer, err := c.bearer(ctx, t, userID)
	if err != nil {
		var tokenErr *TokenError
		if !anonymous || !errors.As(err, &tokenErr) {
			return err
		}
		if runErr := c.runSession(ctx, t, "", op, tool, fn); runErr != nil {
			if errors.Is(runErr, ErrAuth) || errors.As(runErr, new(*InsufficientScopeError)) {
				return err
			}
			return runErr
		}
		return nil
	}
	return c.runSession(ctx, t, bearer, op, tool, fn)
}

// runSession is withSession after the bearer is known ("" for none).
func (c *Client) runSession(ctx context.Context, t *target, bearer, op, tool string, fn func(ctx context.Context, cs *mcp.ClientSession) error) error {

	opCtx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	rec := &exchangeRecorder{}
	cs, err := c.connect(opCtx, t, bearer, rec)
	if err != nil {
		return classify(ctx, opCtx, t.ID, "connect", "", rec, err)
	}

	if err := fn(opCtx, cs); err != nil {
		// A server that failed may also be slow to end the session: the
		// go-sdk waits up to 5 seconds for the DELETE of a Streamable HTTP
		// session. Close in the background, so that the caller learns of
		// the failure at once.
		go c.closeSession(t.ID, cs)
		return classify(ctx, opCtx, t.ID, op, tool, rec, err)
	}
	c.closeSession(t.ID, cs)
	return nil
}

// closeSession ends cs, logging a failure, which changes nothing for the
// caller.
func (c *Client) closeSession(serverID string, cs *mcp.ClientSession) {
	if err := cs.Close(); err != nil {
		c.logger.Debug("mcp session close failed", "server_id", serverID, "err", err)
	}
}

// bearer returns the user's access token for t, or "" when t has no
// provider.
func (c *Client) bearer(ctx context.Context, t *target, userID string) (string, error) {
	if t.ProviderID == "" {
		return "", nil
	}
	if c.tokens == nil {
		return "", &TokenError{ServerID: t.ID, ProviderID: t.ProviderID, Err: errors.New("no token source is configured")}
	}
	token, err := c.tokens.AccessToken(ctx, userID, t.ProviderID)
	if err != nil {
		return "", &TokenError{ServerID: t.ID, ProviderID: t.ProviderID, Err: err}
	}
	if token == "" {
		return "", &TokenError{ServerID: t.ID, ProviderID: t.ProviderID, Err: errors.New("the token source returned an empty token")}
	}
	return token, nil
}

// connect opens an MCP session with the official go-sdk client over the
// server's transport.
func (c *Client) connect(ctx context.Context, t *target, bearer string, rec *exchangeRecorder) (*mcp.ClientSession, error) {
	httpClient := sessionHTTPClient(c.httpClient, t.origin, t.headers, bearer, rec)
	var transport mcp.Transport
	switch Transport(t.Transport) {
	case TransportSSE:
		transport = &mcp.SSEClientTransport{Endpoint: t.URL, HTTPClient: httpClient}
	default:
		transport = &mcp.StreamableClientTransport{
			Endpoint:   t.URL,
			HTTPClient: httpClient,
			// The session lives for one operation and wants no
			// server-initiated messages. Without the stream, requests
			// are sequential (see the design note).
			DisableStandaloneSSE: true,
		}
	}
	client := mcp.NewClient(clientInfo, &mcp.ClientOptions{Logger: c.logger.With("server_id", t.ID)})

	// When ctx ends during the handshake, the go-sdk (v1.8.0) sends
	// notifications/cancelled in the background and then, closing the
	// failed session inside Connect, waits up to 5 seconds for that
	// notification to reach a server that may not respond. Return when
	// ctx ends instead, and let Connect finish on its own.
	type connected struct {
		cs  *mcp.ClientSession
		err error
	}
	done := make(chan connected, 1)
	go func() {
		cs, err := client.Connect(ctx, transport, nil)
		done <- connected{cs, err}
	}()
	select {
	case r := <-done:
		return r.cs, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.cs != nil {
				c.closeSession(t.ID, r.cs)
			}
		}()
		return nil, ctx.Err()
	}
}

// clientInfo is the implementation Toolgate names in initialize requests.
var clientInfo = &mcp.Implementation{Name: "toolgate", Version: buildVersion()}

func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
