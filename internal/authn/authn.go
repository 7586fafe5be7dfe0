package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
)

// Sign-in modes for Options.Mode.
const (
	// ModeOIDC signs browsers in with the organisation's OpenID provider and
	// accepts bearer JWTs from it.
	ModeOIDC = "oidc"
	// ModeDev signs browsers in as one of Options.DevUsers without a
	// password. It is for local development only: see CheckDevListen.
	ModeDev = "dev"
)

// Defaults that New fills in for zero Options fields.
const (
	DefaultRolesClaim = "roles"
	DefaultAdminRole  = "toolgate-admin"
	DefaultSessionTTL = 12 * time.Hour
)

// minSessionTTL is the shortest accepted Options.SessionTTL. Sessions are
// extended at most once per sessionTouchInterval, so a much shorter TTL would
// end sessions that are in use.
const minSessionTTL = 5 * time.Minute

// defaultScopes are requested at sign-in when Options.Scopes is nil.
var defaultScopes = []string{oidc.ScopeOpenID, "profile", "email"}

// Options configures an Authenticator. The zero value of each optional field
// selects the default named in its comment.
type Options struct {
	// Mode is ModeOIDC or ModeDev. Required.
	Mode string

	// ExternalURL is the URL at which browsers reach Toolgate, such as
	// https://toolgate.example.com. Required. Toolgate must be served at the
	// root of that origin, so the URL has no path. It sets the OAuth redirect
	// URI (ExternalURL + "/auth/callback"), the origin that CSRF checks
	// accept, and, when its scheme is https, Secure cookies with the
	// "__Host-" name prefix.
	ExternalURL *url.URL

	// Issuer is the OpenID provider's issuer URL. Required in ModeOIDC. New
	// fetches its discovery document.
	Issuer string
	// ClientID is Toolgate's client id at the provider. Required in ModeOIDC.
	ClientID string
	// ClientSecret is Toolgate's client secret. Empty means a public client,
	// which relies on PKCE alone.
	ClientSecret string
	// Scopes are requested at sign-in. Nil means openid, profile and email;
	// "openid" is added when missing. Providers that put groups or roles
	// behind a scope (for example "groups") need it listed here.
	Scopes []string

	// RolesClaim names the claim that holds the user's roles, in ID tokens
	// and in bearer JWTs. Empty means "roles". A name containing dots is
	// first looked up as one claim name (as in "https://example.com/roles")
	// and then as a path through nested objects (as in "realm_access.roles").
	// The claim is a JSON array of strings or one string of roles separated
	// by spaces or commas.
	RolesClaim string
	// AdminRole is the role that makes a user a Toolgate admin. Empty means
	// "toolgate-admin".
	AdminRole string
	// JWTAudience is the audience that bearer JWTs must name. Empty means
	// ClientID.
	JWTAudience string

	// DevUsers lists who may sign in in ModeDev; at least one is required
	// there. ParseDevUsers builds the list from a flag value.
	DevUsers []DevUser

	// SessionTTL is how long a browser session lives without requests; each
	// request extends it. Zero means 12 hours; the minimum is 5 minutes.
	SessionTTL time.Duration

	// AllowedOrigins are further origins ("https://portal.example.com")
	// whose cookie-authenticated requests pass the CSRF check, besides
	// ExternalURL's own origin.
	AllowedOrigins []string

	// HTTPClient makes the requests to the OpenID provider: discovery, key
	// sets and code exchange. Nil means a client with a 30 second timeout.
	HTTPClient *http.Client
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives sign-in events and errors. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the package's Prometheus counters. Nil means the
	// counters are kept but not registered.
	Registerer prometheus.Registerer
}

// Authenticator resolves callers into identities and serves the sign-in
// routes. It is safe for concurrent use and keeps no state of its own that
// another replica would need: sessions, sign-in flows and API tokens live in
// the store.
type Authenticator struct {
	*APITokens

	store   *store.Store
	keyring *keyring.Keyring
	opts    Options // with defaults filled in
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics

	// origin is ExternalURL's origin; trustedOrigins holds it and the
	// AllowedOrigins, all normalised by normalizeOrigin.
	origin         string
	trustedOrigins map[string]bool

	secureCookies bool
	sessionCookie string
	flowCookie    string

	// devUsers maps a dev user's name to the user. Nil unless ModeDev.
	devUsers map[string]DevUser

	// The fields below are nil unless ModeOIDC.
	oauth2Config *oauth2.Config
	// idTokenVerifier checks ID tokens at the sign-in callback, with the
	// client id as audience; jwtVerifier checks bearer JWTs, with
	// JWTAudience.
	idTokenVerifier *oidc.IDTokenVerifier
	jwtVerifier     *oidc.IDTokenVerifier
	// endSessionURL is the provider's end_session_endpoint, or "" when it
	// has none.
	endSessionURL string
}

// New returns an Authenticator. It fills defaults for zero Options fields,
// validates the rest, and in ModeOIDC fetches the provider's discovery
// document, failing with an error that names the issuer when that does not
// work. ctx bounds the discovery request only. New does not modify opts.
func New(ctx context.Context, st *store.Store, kr *keyring.Keyring, opts *Options) (*Authenticator, error) {
	if st == nil || kr == nil {
		return nil, errors.New("authn: store and keyring are required")
	}
	if opts == nil {
		return nil, errors.New("authn: options are required")
	}
	o, err := withDefaults(*opts)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}

	a := &Authenticator{
		APITokens:      NewAPITokens(st, o.Now, o.Logger),
		store:          st,
		keyring:        kr,
		opts:           o,
		logger:         o.Logger,
		now:            o.Now,
		metrics:        m,
		origin:         normalizeOrigin(o.ExternalURL),
		trustedOrigins: map[string]bool{},
		secureCookies:  o.ExternalURL.Scheme == "https",
	}
	a.trustedOrigins[a.origin] = true
	for _, raw := range o.AllowedOrigins {
		origin, err := parseOrigin(raw)
		if err != nil {
			return nil, fmt.Errorf("authn: allowed origin: %w", err)
		}
		a.trustedOrigins[origin] = true
	}
	a.sessionCookie, a.flowCookie = "toolgate_session", "toolgate_login_state"
	if a.secureCookies {
		// The __Host- prefix makes browsers reject the cookie unless it is
		// Secure, has Path=/ and no Domain, so a sibling subdomain cannot
		// plant or overwrite it.
		a.sessionCookie, a.flowCookie = "__Host-"+a.sessionCookie, "__Host-"+a.flowCookie
	}

	switch o.Mode {
	case ModeDev:
		if err := a.initDev(); err != nil {
			return nil, err
		}
	case ModeOIDC:
		if err := a.initOIDC(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// withDefaults validates o and returns it with defaults filled in. Every
// default of Options is set here and nowhere else.
func withDefaults(o Options) (Options, error) {
	if o.Mode != ModeOIDC && o.Mode != ModeDev {
		return o, fmt.Errorf("authn: mode is %q, want %q or %q", o.Mode, ModeOIDC, ModeDev)
	}
	if err := validateExternalURL(o.ExternalURL); err != nil {
		return o, err
	}

	if o.Mode == ModeOIDC {
		if o.Issuer == "" {
			return o, errors.New("authn: issuer is required in oidc mode")
		}
		if o.ClientID == "" {
			return o, errors.New("authn: client id is required in oidc mode")
		}
	}
	if o.Scopes == nil {
		o.Scopes = defaultScopes
	}
	if !slices.Contains(o.Scopes, oidc.ScopeOpenID) {
		o.Scopes = append([]string{oidc.ScopeOpenID}, o.Scopes...)
	} else {
		o.Scopes = slices.Clone(o.Scopes)
	}

	if o.RolesClaim == "" {
		o.RolesClaim = DefaultRolesClaim
	}
	if strings.TrimSpace(o.RolesClaim) != o.RolesClaim || slices.Contains(strings.Split(o.RolesClaim, "."), "") {
		return o, fmt.Errorf("authn: roles claim %q is invalid: want a claim name or a dotted path such as realm_access.roles", o.RolesClaim)
	}
	if o.AdminRole == "" {
		o.AdminRole = DefaultAdminRole
	}
	if !validRole(o.AdminRole) {
		return o, fmt.Errorf("authn: admin role %q is invalid: %s", o.AdminRole, roleRule)
	}
	if o.JWTAudience == "" {
		o.JWTAudience = o.ClientID
	}

	switch {
	case o.SessionTTL == 0:
		o.SessionTTL = DefaultSessionTTL
	case o.SessionTTL < minSessionTTL:
		return o, fmt.Errorf("authn: session ttl %s is too short: the minimum is %s", o.SessionTTL, minSessionTTL)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// validateExternalURL checks that u is an absolute http or https URL of an
// origin root.
func validateExternalURL(u *url.URL) error {
	if u == nil {
		return errors.New("authn: external url is required")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("authn: external url %q must start with https:// or http://", u.Redacted())
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("authn: external url %q must be scheme://host[:port] with nothing else", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("authn: external url %q has path %q: Toolgate must be served at the root of its origin", u.Redacted(), u.Path)
	}
	return nil
}

// initOIDC discovers the provider and prepares the OAuth client and the token
// verifiers.
func (a *Authenticator) initOIDC(ctx context.Context) error {
	o := &a.opts
	ctx = oidc.ClientContext(ctx, o.HTTPClient)
	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return fmt.Errorf("authn: discover OpenID provider %q: %w", o.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&extra); err != nil {
		return fmt.Errorf("authn: read discovery document of %q: %w", o.Issuer, err)
	}

	a.endSessionURL = extra.EndSession
	a.oauth2Config = &oauth2.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  a.externalURL(callbackPath),
		Scopes:       o.Scopes,
	}
	// VerifierContext ignores the cancellation of ctx and keeps only its
	// HTTP client, which then fetches the provider's key set.
	a.idTokenVerifier = provider.VerifierContext(ctx, &oidc.Config{ClientID: o.ClientID, Now: a.now})
	a.jwtVerifier = provider.VerifierContext(ctx, &oidc.Config{ClientID: o.JWTAudience, Now: a.now})
	return nil
}

// Paths of the sign-in routes.
const (
	loginPath    = "/auth/login"
	callbackPath = "/auth/callback"
	logoutPath   = "/auth/logout"
)

// Routes registers the sign-in routes on mux:
//
//   - GET /auth/login?return_to=/path starts an OpenID Connect sign-in
//     (ModeOIDC) or shows the dev sign-in page (ModeDev);
//   - POST /auth/login signs in a dev user (ModeDev only);
//   - GET /auth/callback completes an OpenID Connect sign-in (ModeOIDC only);
//   - POST /auth/logout ends the session.
//
// The routes do not need Middleware: they read the session cookie
// themselves.
func (a *Authenticator) Routes(mux *http.ServeMux) {
	switch a.opts.Mode {
	case ModeOIDC:
		mux.HandleFunc("GET "+loginPath, a.handleOIDCLogin)
		mux.HandleFunc("GET "+callbackPath, a.handleCallback)
	case ModeDev:
		mux.HandleFunc("GET "+loginPath, a.handleDevLoginPage)
		mux.HandleFunc("POST "+loginPath, a.handleDevLogin)
	}
	mux.HandleFunc("POST "+logoutPath, a.handleLogout)
}

// externalURL returns the absolute URL of path on Toolgate's external origin.
func (a *Authenticator) externalURL(path string) string {
	u := *a.opts.ExternalURL
	u.Path, u.RawPath = path, ""
	return u.String()
}
