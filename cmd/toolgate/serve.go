package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/toolgate/toolgate/internal/agent"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/httpapi"
	"github.com/toolgate/toolgate/internal/llm"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/vault"
	"github.com/toolgate/toolgate/internal/web"
)

// serveFlags are the settings of "toolgate serve".
type serveFlags struct {
	storage         storageFlags
	log             logFlags
	listen          string
	externalURL     string
	allowedOrigins  string
	auth            string
	devUsers        string
	oidcIssuer      string
	oidcClientID    string
	oidcSecret      string
	oidcScopes      string
	rolesClaim      string
	adminRole       string
	jwtAudience     string
	sessionTTL      time.Duration
	shutdownTimeout time.Duration
	models          modelFlags
	pauseTTL        time.Duration
	maxIterations   int
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.storage.register(fs)
	f.log.register(fs)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on, host:port")
	fs.StringVar(&f.externalURL, "external-url", "",
		"public base URL of this server, as browsers reach it; redirect URIs are built from it\n(default: http://<listen>)")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "",
		"comma-separated origins (scheme://host[:port]) besides the external URL that may send\nbrowser requests and receive consent redirects")
	fs.StringVar(&f.auth, "auth", "", "how users sign in: oidc (an OpenID provider) or dev (a list of users; loopback only)")
	fs.StringVar(&f.devUsers, "dev-users", "", "with --auth=dev: users as name[:roles], comma-separated; the role admin\nmakes an admin, for example alice:admin,bob")
	fs.StringVar(&f.oidcIssuer, "oidc-issuer", "", "with --auth=oidc: the OpenID provider's issuer URL")
	fs.StringVar(&f.oidcClientID, "oidc-client-id", "", "with --auth=oidc: this server's client id at the OpenID provider")
	fs.StringVar(&f.oidcSecret, "oidc-client-secret", "", "with --auth=oidc: the client secret (prefer the environment variable)")
	fs.StringVar(&f.oidcScopes, "oidc-scopes", "openid,profile,email", "with --auth=oidc: comma-separated scopes requested at sign-in")
	fs.StringVar(&f.rolesClaim, "oidc-roles-claim", "roles", "ID token or JWT claim holding the user's roles, such as roles or groups;\na dotted path reaches into objects (realm_access.roles)")
	fs.StringVar(&f.adminRole, "admin-role", "toolgate-admin", "role that makes a user an admin")
	fs.StringVar(&f.jwtAudience, "jwt-audience", "", "audience required in bearer JWTs from the OpenID provider (default: the client id)")
	fs.DurationVar(&f.sessionTTL, "session-ttl", 12*time.Hour, "how long a browser session lasts without use (a duration such as 12h)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to wait for requests in flight on SIGTERM before closing them")
	f.models.register(fs)
	fs.DurationVar(&f.pauseTTL, "pause-ttl", time.Hour,
		"how long a chat turn paused for the user's consent can be resumed (a duration such as 1h)")
	fs.IntVar(&f.maxIterations, "max-iterations", 10,
		"model steps a chat turn may take when the request sets no max_iterations (1 to 50)")
}

// resolvedExternalURL validates --external-url, defaulting to the listen
// address.
func (f *serveFlags) resolvedExternalURL() (*url.URL, error) {
	raw := f.externalURL
	if raw == "" {
		host, port, err := net.SplitHostPort(f.listen)
		if err != nil {
			return nil, usageError("--listen %q: want host:port: %v", f.listen, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		raw = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, usageError("--external-url %q: want an http or https URL such as https://toolgate.example.com, without query or user info", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("serve", "serve [flags]", stderr)
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	// Listen before wiring so that port 0 resolves to the real port in the
	// default external URL.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	f.listen = ln.Addr().String()
	srv, cleanup, err := buildServer(ctx, &f, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer cleanup()
	return serveUntilDone(ctx, srv.http, ln, f.shutdownTimeout, logger)
}

// wiredServer is Toolgate as buildServer wires it: the HTTP server, and the
// registries that "toolgate demo" fills before it serves.
type wiredServer struct {
	http       *http.Server
	providers  *provider.Registry
	mcpServers *mcpclient.Registry
	models     *llm.Registry
}

// buildServer opens the database and keyring and wires every component.
// The returned function stops the background work and closes the database.
func buildServer(ctx context.Context, f *serveFlags, logger *slog.Logger) (*wiredServer, func(), error) {
	external, err := f.resolvedExternalURL()
	if err != nil {
		return nil, nil, err
	}
	origins, err := parseOrigins(f.allowedOrigins)
	if err != nil {
		return nil, nil, err
	}
	if f.pauseTTL <= 0 {
		return nil, nil, usageError("--pause-ttl %s: want a positive duration such as 1h", f.pauseTTL)
	}
	if f.maxIterations < 1 || f.maxIterations > agent.MaxIterationLimit {
		return nil, nil, usageError("--max-iterations %d: want 1 to %d", f.maxIterations, agent.MaxIterationLimit)
	}
	var devUsers []authn.DevUser
	switch f.auth {
	case "dev":
		if err := authn.CheckDevListen(f.listen); err != nil {
			return nil, nil, usageError("--auth=dev: %v", err)
		}
		devUsers, err = authn.ParseDevUsers(f.devUsers)
		if err != nil {
			return nil, nil, usageError("--dev-users: %v", err)
		}
		logger.Warn("dev sign-in is on: anyone who reaches this address can sign in as any listed user; use --auth=oidc in production")
	case "oidc":
		var missing []string
		for name, v := range map[string]string{"--oidc-issuer": f.oidcIssuer, "--oidc-client-id": f.oidcClientID} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, nil, usageError("--auth=oidc needs %s", strings.Join(missing, " and "))
		}
	case "":
		return nil, nil, usageError("--auth is required: oidc (an OpenID provider) or dev (a list of users, loopback only)")
	default:
		return nil, nil, usageError("--auth %q: want oidc or dev", f.auth)
	}

	st, err := f.storage.openStore(ctx, logger)
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() { st.Close() }
	fail := func(err error) (*wiredServer, func(), error) {
		closeAll()
		return nil, nil, err
	}
	kr, err := f.storage.loadKeyring(logger, true)
	if err != nil {
		return fail(err)
	}
	if err := checkKeysInUse(ctx, st, kr); err != nil {
		return fail(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	httpClient := &http.Client{Timeout: 30 * time.Second}

	auth, err := authn.New(ctx, st, kr, &authn.Options{
		Mode: f.auth, ExternalURL: external,
		Issuer: f.oidcIssuer, ClientID: f.oidcClientID, ClientSecret: f.oidcSecret, Scopes: splitList(f.oidcScopes),
		RolesClaim: f.rolesClaim, AdminRole: f.adminRole, JWTAudience: f.jwtAudience,
		DevUsers: devUsers, SessionTTL: f.sessionTTL, AllowedOrigins: origins,
		HTTPClient: httpClient, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return fail(err)
	}
	providers := provider.NewRegistry(st, kr, &provider.Options{
		ExternalURL: external, HTTPClient: httpClient, Logger: logger,
	})
	models, err := f.models.registry(httpClient)
	if err != nil {
		return fail(err)
	}
	recorder := audit.New(st, &audit.Options{Registerer: reg, Logger: logger})
	tokenClient := oauthclient.New(httpClient, &oauthclient.Options{Logger: logger})
	tokens := vault.New(st, kr, providers, tokenClient, recorder, &vault.Options{Logger: logger, Registerer: reg})
	consents := consent.New(st, kr, providers, tokens, tokenClient, recorder, &consent.Options{
		ExternalURL: external, AllowedOrigins: origins, Logger: logger, Registerer: reg,
	})
	mcpServers := mcpclient.NewRegistry(st, kr, &mcpclient.Options{
		Tokens: mcpclient.TokenSourceFunc(func(ctx context.Context, userID, providerID string) (string, error) {
			tok, err := tokens.Token(ctx, userID, providerID, vault.TokenOptions{})
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}),
		Logger: logger,
	})
	runner := agent.New(st, models, &agent.MCPTools{Registry: mcpServers}, tokens, consents, &agent.Options{
		PauseTTL: f.pauseTTL, MaxIterations: f.maxIterations, Logger: logger,
	})

	api := httpapi.New(&httpapi.Options{
		Logger: logger, DB: st, Gatherer: reg, Registerer: reg,
		Authenticate: auth.Middleware, RequireAdmin: auth.RequireAdmin,
		Providers: providers, Vault: tokens, Consents: consents, ConsentStarter: consents,
		MCPServers: mcpServers, Agent: runner, Models: models, Audit: st,
		Routes: []func(*http.ServeMux){auth.Routes,
			web.New(&web.Options{Logger: logger, IssuerURL: f.oidcIssuer}).Routes},
	})

	bg, stopBackground := context.WithCancel(context.Background())
	go sweepExpired(bg, st, logger)
	go tokens.RunRevocationRetries(bg)
	go tokens.RunCacheInvalidation(bg)
	closeAll = func() {
		stopBackground()
		st.Close()
	}

	logger.Info("toolgate configured", "external_url", external.String(), "auth", f.auth,
		"database", databaseKind(&f.storage), "key_ids", kr.IDs())
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return &wiredServer{http: srv, providers: providers, mcpServers: mcpServers, models: models}, closeAll, nil
}

func databaseKind(f *storageFlags) string {
	if f.isPostgres() {
		return "postgres"
	}
	return "sqlite:" + f.database
}

// parseOrigins validates --allowed-origins: each must be scheme://host[:port]
// with nothing after it.
func parseOrigins(raw string) ([]string, error) {
	var out []string
	for _, o := range splitList(raw) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, usageError("--allowed-origins: %q is not an origin; want scheme://host[:port], such as https://chat.example.com", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

// serveUntilDone serves on ln until ctx ends (SIGINT or SIGTERM), then
// stops accepting connections and waits up to timeout for requests in
// flight.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("toolgate listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", timeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown timed out; closing open connections", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("toolgate stopped")
	return nil
}

// finishedConsentRetention is how long a finished or expired consent stays
// readable through GET /api/v1/consents/{id} before it is deleted.
const finishedConsentRetention = 24 * time.Hour

// expiredRows is the storage sweepExpired cleans.
type expiredRows interface {
	DeleteExpiredSessions(context.Context, time.Time) (int64, error)
	DeleteFinishedConsents(context.Context, time.Time) (int64, error)
}

// sweepExpired deletes expired sessions and sign-in flows, and consents
// finished more than a day ago, every few minutes until ctx ends. Every
// replica runs it; the deletes are idempotent.
func sweepExpired(ctx context.Context, st expiredRows, logger *slog.Logger) {
	ticker := time.NewTicker(5 * time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now := time.Now()
		if n, err := st.DeleteExpiredSessions(ctx, now); err != nil {
			logger.Warn("delete expired sessions failed", "err", err)
		} else if n > 0 {
			logger.Debug("deleted expired sessions", "count", n)
		}
		if n, err := st.DeleteFinishedConsents(ctx, now.Add(-finishedConsentRetention)); err != nil {
			logger.Warn("delete finished consents failed", "err", err)
		} else if n > 0 {
			logger.Debug("deleted finished consents", "count", n)
		}
	}
}
