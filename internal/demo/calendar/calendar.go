// Package calendar is a small MCP server that keeps a calendar per user
// behind OAuth bearer tokens. toolgate demo runs it as the example of a
// protected tool server, and tests use it as a real MCP server built with
// the MCP Go SDK.
//
// Each request must carry "Authorization: Bearer <token>". A TokenVerifier
// decides whether the token is valid and whose it is; IntrospectionVerifier
// asks the authorization server (RFC 7662). A request without a valid
// token gets 401 with a WWW-Authenticate challenge that points to the
// protected resource metadata (RFC 9728).
package calendar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Event is one calendar entry.
type Event struct {
	Title string `json:"title"`
	Date  string `json:"date"`
	Time  string `json:"time,omitempty"`
}

// Options configures a Server.
type Options struct {
	// Verifier checks bearer tokens. Required.
	Verifier auth.TokenVerifier
	// ResourceURL is the server's MCP endpoint URL as clients reach it,
	// such as http://127.0.0.1:8091/mcp. It names the resource in the
	// protected resource metadata.
	ResourceURL string
	// AuthorizationServers lists the issuers that hand out tokens for this
	// server, for the protected resource metadata.
	AuthorizationServers []string
	// AllowAnonymousListing lets requests without an Authorization header
	// initialize a session and list tools, so a gateway can show the tools
	// before the user connects. Calling a tool always needs a valid token.
	AllowAnonymousListing bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Server is the calendar MCP server. It is safe for concurrent use; the
// calendars live in memory and are lost when it stops.
type Server struct {
	opts Options

	mu        sync.Mutex
	calendars map[string][]Event // by user; mu guards it
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, calendars: map[string][]Event{}}
}

// Handler serves the MCP endpoint at /mcp and the protected resource
// metadata at /.well-known/oauth-protected-resource.
func (s *Server) Handler() http.Handler {
	metadataPath := "/.well-known/oauth-protected-resource"
	metadataURL := strings.TrimSuffix(s.opts.ResourceURL, "/mcp") + metadataPath

	// One MCP server serves every session, so the tools' schemas are built
	// once rather than per session.
	srv := s.mcpServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	protected := auth.RequireBearerToken(s.opts.Verifier, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: metadataURL,
		ClockSkew:           30 * time.Second,
	})(mcpHandler)

	mux := http.NewServeMux()
	if s.opts.AllowAnonymousListing {
		mux.Handle("/mcp", anonymousListing(mcpHandler, protected))
	} else {
		mux.Handle("/mcp", protected)
	}
	mux.Handle(metadataPath, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               s.opts.ResourceURL,
		AuthorizationServers:   s.opts.AuthorizationServers,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Toolgate demo calendar",
	}))
	return mux
}

func (s *Server) mcpServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "toolgate-demo-calendar", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "list_events",
		Description: "List the events in the user's calendar, soonest first.",
	}, s.listEvents)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "create_event",
		Description: "Create an event in the user's calendar with a title and a date (YYYY-MM-DD), and optionally a time (HH:MM).",
	}, s.createEvent)
	return srv
}

type listInput struct{}

type listOutput struct {
	Events []Event `json:"events"`
}

func (s *Server) listEvents(ctx context.Context, req *mcp.CallToolRequest, _ listInput) (*mcp.CallToolResult, listOutput, error) {
	user := userOf(req)
	events := s.eventsOf(user)
	var b strings.Builder
	fmt.Fprintf(&b, "%d events in the calendar of %s:\n", len(events), user)
	for _, e := range events {
		fmt.Fprintf(&b, "- %s %s%s\n", e.Date, e.Title, timeSuffix(e.Time))
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}, listOutput{Events: events}, nil
}

type createInput struct {
	Title string `json:"title" jsonschema:"the event's title"`
	Date  string `json:"date" jsonschema:"the day of the event, as YYYY-MM-DD"`
	Time  string `json:"time,omitempty" jsonschema:"the start time, as HH:MM (24-hour); optional"`
}

var (
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timePattern = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)
)

func (s *Server) createEvent(ctx context.Context, req *mcp.CallToolRequest, in createInput) (*mcp.CallToolResult, Event, error) {
	title := strings.TrimSpace(in.Title)
	if title == "" || len(title) > 200 {
		return errorResult("title must be 1 to 200 characters"), Event{}, nil
	}
	if _, err := time.Parse("2006-01-02", in.Date); err != nil || !datePattern.MatchString(in.Date) {
		return errorResult(fmt.Sprintf("date %q is not a valid YYYY-MM-DD date", in.Date)), Event{}, nil
	}
	if in.Time != "" && !timePattern.MatchString(in.Time) {
		return errorResult(fmt.Sprintf("time %q is not a valid HH:MM time", in.Time)), Event{}, nil
	}

	user := userOf(req)
	e := Event{Title: title, Date: in.Date, Time: in.Time}
	s.mu.Lock()
	s.calendars[user] = append(s.seededLocked(user), e)
	s.mu.Unlock()
	text := fmt.Sprintf("Created %q on %s%s in the calendar of %s.", e.Title, e.Date, timeSuffix(e.Time), user)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, e, nil
}

// eventsOf returns a copy of the user's events, soonest first.
func (s *Server) eventsOf(user string) []Event {
	s.mu.Lock()
	events := slices.Clone(s.seededLocked(user))
	s.mu.Unlock()
	slices.SortStableFunc(events, func(a, b Event) int { return strings.Compare(a.Date+a.Time, b.Date+b.Time) })
	return events
}

// seededLocked returns the user's events, giving a new user two events
// that name them, so that results visibly differ per user. s.mu must be
// held.
func (s *Server) seededLocked(user string) []Event {
	events, ok := s.calendars[user]
	if !ok {
		today := s.opts.Now().UTC()
		events = []Event{
			{Title: "Team standup", Date: today.AddDate(0, 0, 1).Format("2006-01-02"), Time: "09:30"},
			{Title: "1:1 with " + user + "'s manager", Date: today.AddDate(0, 0, 2).Format("2006-01-02"), Time: "14:00"},
		}
		s.calendars[user] = events
	}
	return events
}

func userOf(req *mcp.CallToolRequest) string {
	if info := req.Extra.TokenInfo; info != nil && info.UserID != "" {
		return info.UserID
	}
	return "anonymous"
}

func timeSuffix(t string) string {
	if t == "" {
		return ""
	}
	return " at " + t
}

func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// anonymousMethods are the JSON-RPC methods a request without a token may
// use when AllowAnonymousListing is set.
var anonymousMethods = map[string]bool{
	"initialize": true, "notifications/initialized": true, "tools/list": true, "ping": true,
}

// anonymousListing sends a request without an Authorization header to
// open when its JSON-RPC method only initializes or lists, and every other
// request to protected.
func anonymousListing(open, protected http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Method != http.MethodPost {
			protected.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the request", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && anonymousMethods[msg.Method] {
			open.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}
