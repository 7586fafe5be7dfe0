// Package consent runs the flows in which a user connects an account at an
// OAuth provider to Toolgate: the authorization code grant with PKCE S256
// (RFC 6749 section 4.1, RFC 7636), following the OAuth 2.0 Security BCP
// (RFC 9700). It starts a consent, sends the user's browser to the
// provider, completes the callback, stores the tokens through a TokenStore
// and reports each consent's status to the clients that wait for it.
//
// The package does not deal with agents, MCP or HTML. The HTTP handlers
// in package httpapi render its results and errors.
//
// # Design note: the flow and where each step happens
//
//	app or agent              user's browser (signed in)         provider
//	POST .../consent ───▶ Start: consent row {user, provider,
//	                      scopes, return_url, expires_at}
//	◀── authorization_url = {external}/connect/{id}
//	                      GET /connect/{id} ──▶ AuthorizeRedirect:
//	                        same user? new state and verifier
//	                      303 ─────────────────────────────────────▶ authorize
//	                      GET /oauth/callback?code&state ◀──────────── 302
//	                        Callback: same user? claim state once,
//	                        exchange code + verifier, save tokens
//	                      303 return_url or /oauth-complete
//	GET /api/v1/consents/{id} ──▶ Status
//
// # Design note: why a consent is bound to its user
//
// A consent link is a capability, because the browser that completes it
// decides whose account ends up in whose vault. Suppose any browser could
// complete any consent. Bob could then start a consent and send Alice the
// /connect link or the provider's authorization URL. Once Alice approved
// at the provider, her account would land in Bob's vault, and Bob's agents
// would act as Alice. Toolgate therefore records the user who started a
// consent and requires the browser's signed-in user to be that user twice:
// at /connect, before any state exists, and at the callback, before the
// state is consumed. A different user gets 403 and nothing changes, so the
// rightful user can still finish the flow. A leaked authorization code is
// worthless without the PKCE verifier, which never leaves the server.
//
// # Design note: why state is single-use and lives in the database
//
// Every step of a flow is a row in the store and nothing lives only in
// process memory, so the callback works on any replica and after a
// restart. The store keeps only the SHA-256 of the state, so reading the
// database does not yield a usable state, and the PKCE verifier is sealed
// by the keyring under store.ConsentVerifierAAD, so it opens only for its
// own row. Each visit to /connect writes a new state and verifier, which
// makes the previous state unknown. The callback consumes the state with
// one conditional UPDATE (store.ClaimConsentState): of two callbacks with
// the same state, replayed or concurrent, exactly one exchanges the code
// and the other gets an "already used" page. A provider error ends the
// consent as failed and the browser goes to a result page, never back to
// the provider, so a refusal cannot loop.
package consent

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Errors returned by Service methods. Callers compare with errors.Is.
var (
	// ErrNotFound means the provider does not exist, is disabled or is not
	// open to any of the user's roles (Start), or the consent does not
	// exist (AuthorizeRedirect, Status) or belongs to another user
	// (Status). The cases are not distinguished, so that a user learns
	// nothing about providers and consents that are not theirs.
	ErrNotFound = errors.New("consent: not found")
	// ErrSignInRequired means the caller passed no user id.
	ErrSignInRequired = errors.New("consent: sign-in required")
	// ErrWrongUser means the browser's signed-in user is not the user who
	// started the consent. Nothing was changed.
	ErrWrongUser = errors.New("consent: consent belongs to another user")
	// ErrExpired means the consent was still pending when its TTL ran out.
	ErrExpired = errors.New("consent: consent expired")
	// ErrFinished means the consent already completed, failed or was
	// cancelled.
	ErrFinished = errors.New("consent: consent already finished")
	// ErrProviderUnavailable means the consent's provider was deleted or
	// disabled after the consent started. The consent is then failed.
	ErrProviderUnavailable = errors.New("consent: provider no longer available")
	// ErrUnknownState means no consent has the callback's state: it is
	// malformed, forged, or a later visit to /connect replaced it.
	ErrUnknownState = errors.New("consent: unknown state")
	// ErrStateUsed means the callback's state was consumed before, by a
	// replay or by a concurrent callback.
	ErrStateUsed = errors.New("consent: state already used")
)

// InputError is a rejected Start input. Field is the JSON name of the
// request field, and Detail explains what is wrong and how to fix it.
type InputError struct {
	Field  string
	Detail string
}

func (e *InputError) Error() string { return "consent: invalid " + e.Field + ": " + e.Detail }

// ProviderResolver returns a provider's configuration. *provider.Registry
// implements it. Resolve must return an error wrapping provider.ErrNotFound
// for an unknown id.
type ProviderResolver interface {
	Resolve(ctx context.Context, id string) (*provider.Config, error)
}

// TokenStore is the part of the vault the consent flow uses. Save stores
// the tokens of a completed consent and replaces any earlier ones of the
// (user, provider) pair. Its requestedScopes are the scopes the consent
// requested, for providers that do not return the granted ones. Usable
// reports whether the pair has a token that covers scopes and is neither
// revoked nor in need of re-consent.
type TokenStore interface {
	Save(ctx context.Context, userID, providerID string, resp *oauthclient.TokenResponse, requestedScopes []string) error
	Usable(ctx context.Context, userID, providerID string, scopes []string) (bool, error)
}

// Exchanger redeems an authorization code with its PKCE verifier at the
// provider's token endpoint (RFC 6749 section 4.1.3, RFC 7636 section
// 4.5). A failure the provider reports should be an *oauthclient.Error, so
// that its sanitized code reaches the user; other errors are shown as a
// server error.
type Exchanger interface {
	Exchange(ctx context.Context, cfg *provider.Config, code, verifier string) (*oauthclient.TokenResponse, error)
}

// Options configures a Service. nil and the zero value are valid.
type Options struct {
	// ExternalURL is Toolgate's public base URL. Authorization URLs and the
	// /oauth-complete redirect are built on it, and its origin may receive
	// return URLs. Nil makes those URLs paths, which suits only tests.
	ExternalURL *url.URL
	// AllowedOrigins are further origins ("https://app.example.com") that
	// a return_url may point at. An entry that is not scheme://host[:port]
	// is logged by New and ignored.
	AllowedOrigins []string
	// TTL is how long a consent stays pending. Zero means 10 minutes.
	TTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives starts, completions, failures and rejected
	// callbacks. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the consent counters. Nil registers none.
	Registerer prometheus.Registerer
}

// defaultTTL is how long a consent stays pending unless Options.TTL sets
// another duration. It is long enough to sign in at a provider and short
// enough that a forgotten link stops working soon.
const defaultTTL = 10 * time.Minute

// completionTimeout bounds the work after a callback claimed its state:
// the code exchange, saving the tokens and finishing the consent.
const completionTimeout = 30 * time.Second

// Service runs consent flows. It is safe for concurrent use, and several
// Services on one database, in one process or on several replicas, may
// serve the same flows, because all flow state is in the store.
type Service struct {
	store     *store.Store
	keyring   *keyring.Keyring
	providers ProviderResolver
	tokens    TokenStore
	exchanger Exchanger
	audit     *audit.Recorder

	externalURL *url.URL
	// externalOrigin is ExternalURL's origin, "" when ExternalURL is nil.
	externalOrigin string
	// allowedOrigins are the normalized Options.AllowedOrigins.
	allowedOrigins []string
	ttl            time.Duration
	now            func() time.Time
	logger         *slog.Logger
	metrics        *metrics
}

// New returns a Service that keeps flows in st, seals PKCE verifiers with
// kr, reads providers from providers, stores tokens in tokens, redeems
// codes with exchanger and records audit events with rec. rec and opts
// may be nil.
func New(st *store.Store, kr *keyring.Keyring, providers ProviderResolver, tokens TokenStore, exchanger Exchanger, rec *audit.Recorder, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Service{
		store:       st,
		keyring:     kr,
		providers:   providers,
		tokens:      tokens,
		exchanger:   exchanger,
		audit:       rec,
		externalURL: o.ExternalURL,
		ttl:         o.TTL,
		now:         o.Now,
		logger:      o.Logger,
	}

	if s.ttl <= 0 {
		s.ttl = defaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		s.logger.Error("consent metrics not registered", "err", err)
	}
	s.metrics = m

	if s.externalURL != nil {
		s.externalOrigin = originOf(s.externalURL)
	}
	for _, raw := range o.AllowedOrigins {
		origin, err := parseOrigin(raw)
		if err != nil {
			s.logger.Error("allowed origin ignored", "origin", raw, "err", err)
			continue
		}
		s.allowedOrigins = append(s.allowedOrigins, origin)
	}
	return s
}

// Origins returns the origins that the /oauth-complete page may post its
// result to: the external URL's origin first, when there is one, then the
// allowed origins. The caller owns the slice.
func (s *Service) Origins() []string {
	out := make([]string, 0, 1+len(s.allowedOrigins))
	if s.externalOrigin != "" {
		out = append(out, s.externalOrigin)
	}
	return append(out, s.allowedOrigins...)
}

// externalPath returns path on the external URL, or path alone when there
// is no external URL.
func (s *Service) externalPath(path string) string {
	if s.externalURL == nil {
		return path
	}
	return s.externalURL.JoinPath(path).String()
}

// checkOpen returns ErrFinished unless c is pending and ErrExpired when it
// is pending but past its expiry at now.
func checkOpen(c *store.Consent, now time.Time) error {
	switch {
	case c.Status != store.ConsentPending:
		return ErrFinished
	case !now.Before(c.ExpiresAt):
		return ErrExpired
	}
	return nil
}
