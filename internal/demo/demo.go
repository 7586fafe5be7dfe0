// Package demo runs what "toolgate demo" adds around Toolgate: a demo
// OpenID provider (package oidcprovider) with the users alice and bob, and
// the calendar MCP server (package calendar), which accepts that
// provider's access tokens. It registers both in Toolgate's provider and
// MCP server registries, through their public methods.
//
// Both servers bind loopback addresses only and keep everything in memory,
// so their tokens and calendars are gone when the demo stops. Production
// code never imports this package.
package demo

// Design note: the calendar's tools before anyone has connected
//
// The calendar lists its tools to anyone (initialize and tools/list need
// no token) while every tool call needs the user's token. Toolgate lists a
// gated server's tools without a token when the user has none, so the
// model is offered the calendar's tools from the first turn, and calling
// one is what asks bob to connect. Register also fetches the catalog once
// at start, so the admin pages show it at once.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/demo/oidcprovider"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/provider"
)

// Ids of the demo's registrations in Toolgate, and of its accounts at the
// demo provider.
const (
	ProviderID  = "demo-idp"
	MCPServerID = "calendar"

	toolgateClientID = "toolgate"
	calendarClientID = "calendar-mcp"
	calendarScope    = "calendar"
	// setupUserID is the user that Register names when it lists the
	// calendar's tools before anyone has connected.
	setupUserID = "toolgate-demo"
)

// providerScopes are the scopes Toolgate requests from the demo provider.
// offline_access makes the provider issue a refresh token.
var providerScopes = []string{"openid", "profile", calendarScope, "offline_access"}

// user is a person of the demo. The password at the demo provider is the
// name, and admin makes the user a Toolgate admin.
type user struct {
	name  string
	admin bool
}

var users = []user{{name: "alice", admin: true}, {name: "bob"}}

// DevUsers returns the demo's users in the syntax of "toolgate serve
// --dev-users": alice:admin,bob.
func DevUsers() string {
	entries := make([]string, len(users))
	for i, u := range users {
		entries[i] = u.name
		if u.admin {
			entries[i] += ":admin"
		}
	}
	return strings.Join(entries, ",")
}

// Options configures Start.
type Options struct {
	// RedirectURI is Toolgate's OAuth redirect URI, which the demo
	// provider accepts for Toolgate's client. Required.
	RedirectURI string
	// ProviderAddr and MCPAddr are the loopback host:port addresses of the
	// demo provider and the calendar server. Empty means 127.0.0.1:0, a
	// free port.
	ProviderAddr string
	MCPAddr      string
	// Logger receives the servers' logs. Nil discards them.
	Logger *slog.Logger
}

// Peers are the running demo provider and calendar server. Stop them with
// Shutdown.
type Peers struct {
	// Issuer is the demo provider's issuer URL.
	Issuer string
	// MCPURL is the calendar's MCP endpoint.
	MCPURL string

	discoveryURL string
	clientSecret string
	servers      map[string]*peerServer // by name, for logs and errors
	logger       *slog.Logger
}

// FreshConns tracks the connections of an http.Server on which no request
// has arrived yet, so that they can be closed at shutdown. In Go 1.26,
// http.Server.Shutdown waits up to 5 seconds for such a connection, and
// browsers and HTTP clients open them ahead of need. Set Track as the
// server's ConnState. The zero value is ready to use, and FreshConns is
// safe for concurrent use.
type FreshConns struct {
	mu sync.Mutex
	// conns are the connections in http.StateNew. closed is set by Close.
	// mu guards both.
	conns  map[net.Conn]bool
	closed bool
}

// Track records a connection's state change. It has the signature of
// http.Server.ConnState. After Close, it closes every new connection,
// such as one the server accepted while Close ran.
func (f *FreshConns) Track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case state != http.StateNew:
		delete(f.conns, c)
	case f.closed:
		c.Close()
	default:
		if f.conns == nil {
			f.conns = map[net.Conn]bool{}
		}
		f.conns[c] = true
	}
}

// Close closes every connection on which no request has arrived yet, and
// every new one from now on.
func (f *FreshConns) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
}

// peerServer is an http.Server whose Shutdown does not wait for unused
// connections.
type peerServer struct {
	*http.Server
	fresh FreshConns
}

func newPeerServer(h http.Handler, logger *slog.Logger) *peerServer {
	srv := &peerServer{}
	srv.Server = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         srv.fresh.Track,
	}
	return srv
}

// Shutdown closes the listener and the connections without a request,
// then waits for requests in flight until ctx ends.
func (s *peerServer) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.Server.Shutdown(ctx) }()
	s.fresh.Close()
	return <-done
}

// Start starts the demo provider and the calendar server on loopback
// addresses and returns once both accept connections. On error, nothing
// is left running.
func Start(opts Options) (*Peers, error) {
	if opts.RedirectURI == "" {
		return nil, errors.New("demo: Options.RedirectURI is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Peers{clientSecret: rand.Text(), servers: map[string]*peerServer{}, logger: logger}
	calendarSecret := rand.Text()

	idpListener, err := listenLoopback(opts.ProviderAddr, "--idp-listen")
	if err != nil {
		return nil, err
	}
	mcpListener, err := listenLoopback(opts.MCPAddr, "--mcp-listen")
	if err != nil {
		idpListener.Close()
		return nil, err
	}
	p.Issuer = "http://" + idpListener.Addr().String()
	p.MCPURL = "http://" + mcpListener.Addr().String() + "/mcp"

	idp, err := oidcprovider.New(p.Issuer, &oidcprovider.Options{
		Users:   providerUsers(),
		Clients: []oidcprovider.Client{{ID: toolgateClientID, Secret: p.clientSecret, Name: "Toolgate", RedirectURIs: []string{opts.RedirectURI}, Scopes: []string{calendarScope}}},
		ResourceServers: []oidcprovider.ResourceServer{{
			ID: calendarClientID, Secret: calendarSecret, Scopes: []string{calendarScope},
		}},
		Scopes:                []oidcprovider.Scope{{Name: calendarScope, Description: "See and add events in your demo calendar"}},
		InsecureShowPasswords: true,
		Logger:                logger.With("server", "demo-idp"),
	})
	if err != nil {
		idpListener.Close()
		mcpListener.Close()
		return nil, fmt.Errorf("demo: start the demo provider: %w", err)
	}
	p.discoveryURL = idp.DiscoveryURL()
	cal := calendar.New(calendar.Options{
		Verifier:              calendar.IntrospectionVerifier(idp.IntrospectionURL(), calendarClientID, calendarSecret, calendarClientID, nil),
		ResourceURL:           p.MCPURL,
		AuthorizationServers:  []string{p.Issuer},
		AllowAnonymousListing: true,
	})

	p.serve(idpListener, idp, "demo-idp")
	p.serve(mcpListener, cal.Handler(), "calendar")
	logger.Info("demo peers started", "issuer", p.Issuer, "mcp_url", p.MCPURL)
	return p, nil
}

func providerUsers() []oidcprovider.User {
	out := make([]oidcprovider.User, len(users))
	for i, u := range users {
		display := strings.ToUpper(u.name[:1]) + u.name[1:]
		out[i] = oidcprovider.User{ID: u.name, Password: u.name, Name: display, Email: u.name + "@example.test"}
	}
	return out
}

// serve serves h on ln in the background, logging a failure other than
// the server's shutdown.
func (p *Peers) serve(ln net.Listener, h http.Handler, name string) {
	srv := newPeerServer(h, p.logger)
	p.servers[name] = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.logger.Error("demo server stopped", "server", name, "err", err)
		}
	}()
}

// Shutdown stops both servers, waiting for requests in flight until ctx
// ends and then closing the connections that remain.
func (p *Peers) Shutdown(ctx context.Context) error {
	var errs []error
	for name, srv := range p.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: shut down: %w", err)
	}
	return nil
}

// listenLoopback listens on addr, which must name a loopback host. flag
// names the option that set addr, for the error message.
func listenLoopback(addr, flag string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("demo: %s %q: want host:port, such as 127.0.0.1:9096: %w", flag, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("demo: %s %q: the demo listens on loopback addresses only; use 127.0.0.1:<port>", flag, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w; choose another port, or 127.0.0.1:0 for a free one", flag, err)
	}
	return ln, nil
}

// ProviderRegistry is the part of Toolgate's provider registry that
// Register uses.
type ProviderRegistry interface {
	Get(ctx context.Context, id string) (*provider.View, error)
	Create(ctx context.Context, in provider.CreateInput) (*provider.View, error)
	Update(ctx context.Context, id string, in provider.PatchInput) (*provider.View, error)
}

// MCPServerRegistry is the part of Toolgate's MCP server registry that
// Register uses.
type MCPServerRegistry interface {
	Get(ctx context.Context, id string) (*mcpclient.View, error)
	Create(ctx context.Context, in mcpclient.CreateInput) (*mcpclient.View, error)
	Update(ctx context.Context, id string, in mcpclient.PatchInput) (*mcpclient.View, error)
	RefreshTools(ctx context.Context, serverID, userID string) (*mcpclient.View, error)
}

var (
	_ ProviderRegistry  = (*provider.Registry)(nil)
	_ MCPServerRegistry = (*mcpclient.Registry)(nil)
)

// Register registers the demo provider as ProviderID and the calendar as
// MCPServerID. When they exist, as with a reused data directory, it
// updates them to this run's addresses and client secret, and resets what
// the demo depends on: enabled, open to every role, the scopes.
func (p *Peers) Register(ctx context.Context, providers ProviderRegistry, servers MCPServerRegistry) error {
	if err := p.registerProvider(ctx, providers); err != nil {
		return fmt.Errorf("demo: register provider %q: %w", ProviderID, err)
	}
	if err := p.registerMCPServer(ctx, servers); err != nil {
		return fmt.Errorf("demo: register MCP server %q: %w", MCPServerID, err)
	}
	return nil
}

func (p *Peers) registerProvider(ctx context.Context, providers ProviderRegistry) error {
	const displayName = "Demo provider"
	_, err := providers.Get(ctx, ProviderID)
	if errors.Is(err, provider.ErrNotFound) {
		_, err = providers.Create(ctx, provider.CreateInput{
			ID: ProviderID, DisplayName: displayName, Type: provider.TypeCustom,
			ClientID: toolgateClientID, ClientSecret: provider.Secret(p.clientSecret),
			Scopes: providerScopes, DiscoveryURL: p.discoveryURL,
		})
		return err
	}
	if err != nil {
		return err
	}

	custom, name, clientID, secret := provider.TypeCustom, displayName, toolgateClientID, provider.Secret(p.clientSecret)
	scopes, roles, enabled, discovery := providerScopes, []string{}, true, p.discoveryURL
	_, err = providers.Update(ctx, ProviderID, provider.PatchInput{
		Type: &custom, DisplayName: &name, ClientID: &clientID, ClientSecret: &secret,
		Scopes: &scopes, AllowedRoles: &roles, Enabled: &enabled, DiscoveryURL: &discovery,
	})
	return err
}

// registerMCPServer saves the calendar with the demo provider and fetches
// its tool catalog (see the design note).
func (p *Peers) registerMCPServer(ctx context.Context, servers MCPServerRegistry) error {
	const displayName = "Demo calendar"
	providerID := ProviderID
	_, err := servers.Get(ctx, MCPServerID)
	switch {
	case errors.Is(err, mcpclient.ErrNotFound):
		_, err = servers.Create(ctx, mcpclient.CreateInput{ID: MCPServerID, DisplayName: displayName, URL: p.MCPURL, ProviderID: providerID})
	case err == nil:
		name, endpoint, transport, roles, enabled := displayName, p.MCPURL, mcpclient.TransportStreamableHTTP, []string{}, true
		_, err = servers.Update(ctx, MCPServerID, mcpclient.PatchInput{
			DisplayName: &name, URL: &endpoint, Transport: &transport, ProviderID: &providerID, AllowedRoles: &roles, Enabled: &enabled,
		})
	}
	if err != nil {
		return err
	}
	if _, err := servers.RefreshTools(ctx, MCPServerID, setupUserID); err != nil {
		return fmt.Errorf("list the calendar's tools: %w", err)
	}
	return nil
}

// Welcome is the content of the text that WriteWelcome prints.
type Welcome struct {
	// URL is Toolgate's URL for the browser.
	URL string
	// Model is the default model's display name.
	Model string
	// DataDir is the data directory, which is removed on exit when
	// Temporary is true.
	DataDir   string
	Temporary bool
	// Startup is how long the demo took to become ready.
	Startup time.Duration
}

// WriteWelcome writes the URL to open and what to try.
func (p *Peers) WriteWelcome(w io.Writer, wel Welcome) error {
	data := "kept"
	if wel.Temporary {
		data = "removed when the demo stops"
	}
	_, err := fmt.Fprintf(w, `
Toolgate demo is ready (in %s). Open %s

  1. Sign in as bob and ask: what's on my calendar?
  2. Connect when asked: at the demo provider, sign in as bob / bob and approve.
  3. Try as alice, the admin: Admin → Connectors.

Model: %s. Demo provider: %s. Calendar MCP server: %s.
Data: %s (%s). Press Ctrl-C to stop.
`, wel.Startup.Round(time.Millisecond), wel.URL, wel.Model, p.Issuer, p.MCPURL, wel.DataDir, data)
	return err
}
