package oidcprovider

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Default lifetimes for Options fields left zero.
const (
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultRefreshTokenTTL = 24 * time.Hour
	DefaultIDTokenTTL      = time.Hour
)

// User is an account that can sign in on the login page.
type User struct {
	// ID is the username on the login page and the subject (sub) of the
	// user's tokens. It must not contain ':', which the OP package uses
	// inside opaque access tokens.
	ID       string
	Password string
	// Name is the display name, sent as the name claim. Empty means ID.
	Name string
	// Email is sent as the email claim, marked verified. Empty sends none.
	Email string
}

// Client is a confidential OAuth client that uses the authorization code
// flow. It authenticates with client_secret_basic or client_secret_post.
type Client struct {
	ID     string
	Secret string
	// Name is shown on the consent page. Empty means ID.
	Name string
	// RedirectURIs are the exact redirect URIs the client may use.
	RedirectURIs []string
	// Scopes are the scopes the client may request besides openid,
	// profile, email, phone, address and offline_access, which the OP
	// package always allows. Other scopes are dropped from a request.
	Scopes []string
}

// ResourceServer is an API that accepts this provider's access tokens and
// checks them at the introspection endpoint.
type ResourceServer struct {
	ID     string
	Secret string
	// Scopes select the access tokens meant for this server: a token with
	// any of them lists the server's ID in its audience, and the server
	// may introspect it.
	Scopes []string
}

// Scope describes a scope on the consent page.
type Scope struct {
	Name        string
	Description string
}

// Options configures a Provider. Nil and the zero value are valid, but a
// provider without users and clients serves only its metadata.
type Options struct {
	Users           []User
	Clients         []Client
	ResourceServers []ResourceServer
	// Scopes describe the clients' extra scopes on the consent page. A
	// scope without a description is shown by its name.
	Scopes []Scope
	// InsecureShowPasswords lists every user's username and password on
	// the login page. Set it only when the passwords are public anyway,
	// as in a local demo.
	InsecureShowPasswords bool
	// AccessTokenTTL is the lifetime of access tokens. Zero means
	// DefaultAccessTokenTTL.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token can be used after it is
	// issued. Each use issues a new one with the full lifetime, so a grant
	// lasts while its client refreshes at least once per RefreshTokenTTL.
	// Zero means DefaultRefreshTokenTTL.
	RefreshTokenTTL time.Duration
	// IDTokenTTL is the lifetime of ID tokens. Zero means
	// DefaultIDTokenTTL.
	IDTokenTTL time.Duration
	// Now returns the current time for the storage: auth request, code
	// and token expiry. Nil means time.Now. The OP package reads the
	// system clock for the exp and iat claims of ID tokens.
	Now func() time.Time
	// Logger receives sign-ins, consent decisions, refresh token reuse
	// and revocations, with client_id and subject. It never receives a
	// password, code or token. Nil discards them.
	//
	// NOTE: the OP package logs its own request errors through
	// slog.Default, which this option does not change.
	Logger *slog.Logger
}

// Provider is a running OpenID provider. It is an http.Handler that serves
// every endpoint under the issuer URL, and it is safe for concurrent use.
type Provider struct {
	issuer  string
	op      *op.Provider
	storage *storage
	handler http.Handler
}

// Paths of the pages this package serves beside the OP package's
// endpoints.
const (
	loginPath     = "/login"
	consentPath   = "/consent"
	signedOutPath = "/signed-out"
)

// New returns a provider whose issuer is issuer, such as
// http://127.0.0.1:9096. The issuer must be an https URL, or an http URL
// on a loopback host, with no path, query or fragment. opts may be nil.
// New generates a 2048-bit RSA signing key.
func New(issuer string, opts *Options) (*Provider, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	insecure, err := checkIssuer(issuer)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	st, err := newStorage(issuer, &o)
	if err != nil {
		return nil, err
	}

	var cryptoKey [32]byte
	rand.Read(cryptoKey[:]) // Since Go 1.24, rand.Read never returns an error.
	config := &op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: signedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          st.supportedScopes(),
	}
	options := []op.Option{}
	if insecure {
		options = append(options, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(config, st, op.StaticIssuer(issuer), options...)
	if err != nil {
		return nil, fmt.Errorf("oidcprovider: %w", err)
	}

	p := &Provider{issuer: issuer, op: provider, storage: st}
	pages := &pages{storage: st, op: provider, callbackURL: op.AuthCallbackURL(provider), secureCookie: !insecure, logger: st.logger}
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.Handle(loginPath, interceptor.HandlerFunc(pages.login))
	mux.Handle(consentPath, interceptor.HandlerFunc(pages.consent))
	mux.Handle(signedOutPath, http.HandlerFunc(pages.signedOut))
	mux.Handle(oidc.DiscoveryEndpoint, interceptor.HandlerFunc(p.serveMetadata))
	mux.Handle(oidc.AuthorizationServerMetadataEndpoint, interceptor.HandlerFunc(p.serveMetadata))
	mux.Handle("/", provider)
	p.handler = mux
	return p, nil
}

// ServeHTTP serves the provider's endpoints and pages.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.handler.ServeHTTP(w, r)
}

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// DiscoveryURL returns the URL of the OpenID discovery document.
func (p *Provider) DiscoveryURL() string { return p.issuer + oidc.DiscoveryEndpoint }

// IntrospectionURL returns the URL of the introspection endpoint, where
// resource servers check access tokens.
func (p *Provider) IntrospectionURL() string { return p.op.IntrospectionEndpoint().Absolute(p.issuer) }

// checkIssuer validates issuer and reports whether it uses plain http,
// which is accepted only on loopback hosts.
func checkIssuer(issuer string) (insecure bool, err error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") ||
		strings.HasSuffix(issuer, "/") {
		return false, fmt.Errorf("oidcprovider: issuer %q: want scheme://host[:port] without path, query, fragment or trailing slash", issuer)
	}
	switch u.Scheme {
	case "https":
		return false, nil
	case "http":
		if !isLoopback(u.Hostname()) {
			return false, fmt.Errorf("oidcprovider: issuer %q: http is allowed only on a loopback host (127.0.0.0/8, ::1, localhost); use https", issuer)
		}
		return true, nil
	default:
		return false, fmt.Errorf("oidcprovider: issuer %q: want an https URL, or http on a loopback host", issuer)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkOptions validates the users, clients and resource servers and
// fills the defaults.
func checkOptions(o *Options) error {
	var errs []error
	ids := map[string]string{} // client and resource server ids → kind
	for _, u := range o.Users {
		switch {
		case u.ID == "" || strings.ContainsAny(u.ID, ":\x00"):
			errs = append(errs, fmt.Errorf("user %q: the id must be non-empty and contain no ':'", u.ID))
		case u.Password == "":
			errs = append(errs, fmt.Errorf("user %q: the password is empty", u.ID))
		}
	}
	if dup := duplicate(o.Users, func(u User) string { return u.ID }); dup != "" {
		errs = append(errs, fmt.Errorf("user %q is listed twice", dup))
	}
	for _, c := range o.Clients {
		if c.ID == "" || c.Secret == "" {
			errs = append(errs, fmt.Errorf("client %q: the id and the secret must be non-empty", c.ID))
		}
		if len(c.RedirectURIs) == 0 {
			errs = append(errs, fmt.Errorf("client %q: no redirect URI", c.ID))
		}
		for _, uri := range c.RedirectURIs {
			if u, err := url.Parse(uri); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
				errs = append(errs, fmt.Errorf("client %q: redirect URI %q: want an absolute URL without fragment", c.ID, uri))
			}
		}
		if kind, exists := ids[c.ID]; exists {
			errs = append(errs, fmt.Errorf("client %q: the id is taken by another %s", c.ID, kind))
		}
		ids[c.ID] = "client"
	}
	for _, rs := range o.ResourceServers {
		if rs.ID == "" || rs.Secret == "" || len(rs.Scopes) == 0 {
			errs = append(errs, fmt.Errorf("resource server %q: the id, the secret and the scopes must be non-empty", rs.ID))
		}
		if kind, exists := ids[rs.ID]; exists {
			errs = append(errs, fmt.Errorf("resource server %q: the id is taken by a %s", rs.ID, kind))
		}
		ids[rs.ID] = "resource server"
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("oidcprovider: invalid options: %w", err)
	}

	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if o.IDTokenTTL <= 0 {
		o.IDTokenTTL = DefaultIDTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// duplicate returns the first key that two items share, or "".
func duplicate[T any](items []T, key func(T) string) string {
	seen := map[string]bool{}
	for _, item := range items {
		k := key(item)
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}

// containsAny reports whether have contains one of want.
func containsAny(have, want []string) bool {
	return slices.ContainsFunc(want, func(s string) bool { return slices.Contains(have, s) })
}
