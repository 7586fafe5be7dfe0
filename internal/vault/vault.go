// Package vault keeps users' tokens for their connected providers. It
// stores them sealed and hands out access tokens. It refreshes each token
// once however many callers and replicas ask, classifies the provider's
// errors, and revokes tokens at the provider when a user disconnects.
package vault

// Design note: refreshing exactly once.
//
// Providers that rotate refresh tokens invalidate the old one on first
// use, so two refreshes of one connection race, and the loser's
// invalid_grant would make the user consent again. Two layers make one
// refresh happen per generation of a connection:
//
//	callers in one process ──► singleflight, keyed by user and provider
//	                              │ one leader per process
//	leaders of all replicas ──► database lease on the token row
//	                              │ one holder per generation
//	                              ▼
//	                     provider token endpoint
//	                              │
//	                     CompleteRefresh: compare-and-swap on generation
//
//  1. In a process, golang.org/x/sync/singleflight joins concurrent
//     callers to one leader, which runs detached from any single
//     caller's context so that one caller giving up does not fail the
//     others.
//  2. The leader rereads the row. If the generation moved past the one
//     the caller saw and the new token is not due, someone else already
//     refreshed: it is returned.
//  3. Otherwise the leader takes the row's refresh lease
//     (AcquireRefreshLease at that generation) for LeaseDuration, which
//     is at least twice the HTTP timeout, so a lease never ends while its
//     holder can still be waiting for the provider. The holder refreshes
//     and commits with CompleteRefresh, whose compare-and-swap on the
//     generation also drops the lease.
//  4. A leader that does not get the lease polls the row every 25 to
//     100 ms until the generation moves, then uses the new token. After
//     WaitTimeout it serves the old token if that has not expired, and
//     otherwise returns ErrTemporarilyUnavailable. A holder that died
//     leaves its lease to expire, after which the next caller takes it.
//  5. A holder whose compare-and-swap loses (a disconnect or a new
//     consent wrote the row meanwhile) rereads and never overwrites. If
//     the row was disconnected, the tokens it just obtained are revoked,
//     so that no token outlives a disconnect upstream.
//
// The provider's response decides what follows. KindReauth (invalid_grant)
// marks the row needs_reauth at its generation. KindTransient releases
// the lease, keeps the row, serves the old token while it has not
// expired and pauses further attempts on this replica for a few seconds.
// Leases compare replica clocks, which must agree to well within
// LeaseDuration.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
)

// Defaults and limits of Options.
const (
	// MaxRefreshMargin is the longest a token is refreshed before it
	// expires.
	MaxRefreshMargin = 5 * time.Minute
	// DefaultCacheTTL bounds how long a cached token or provider
	// configuration is served without rereading the database.
	DefaultCacheTTL = 5 * time.Second

	defaultRevocationPollInterval = 30 * time.Second
	defaultRevocationMaxAttempts  = 20
	defaultRevocationMaxAge       = 7 * 24 * time.Hour
)

// Providers resolves a provider id to its configuration. *provider.Registry
// implements it. Resolve must return an error wrapping provider.ErrNotFound
// for an unknown id.
type Providers interface {
	Resolve(ctx context.Context, id string) (*provider.Config, error)
}

var _ Providers = (*provider.Registry)(nil)

// Options configures a Vault. Nil and the zero value are valid; each
// field's comment gives its default.
type Options struct {
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives refresh failures, revocation outcomes and listener
	// events, with user_id, provider_id, generation and err. It never
	// receives a token or secret. Nil discards.
	Logger *slog.Logger
	// Registerer receives the vault's metrics. Nil registers none.
	Registerer prometheus.Registerer
	// ReplicaID names this process as the holder of refresh leases. Empty
	// means a random id. Replicas must not share one.
	ReplicaID string
	// RefreshMargin caps how long before expiry a token is refreshed: the
	// margin is the smaller of RefreshMargin and half the token's
	// lifetime. Zero, and values above MaxRefreshMargin, mean
	// MaxRefreshMargin.
	RefreshMargin time.Duration
	// LeaseDuration is how long a refresh lease lasts. Zero means twice
	// the client's timeout plus 5 s; shorter values are raised to twice
	// the client's timeout.
	LeaseDuration time.Duration
	// WaitTimeout bounds how long a caller waits for another replica's
	// refresh. Zero means the client's timeout plus 5 s.
	WaitTimeout time.Duration
	// Jitter returns a random duration in [0, max). It spreads refreshes
	// (up to a tenth of the margin earlier), polls and retries, so that
	// replicas do not act in lockstep. Nil means math/rand/v2.
	Jitter func(max time.Duration) time.Duration
	// CacheTTL bounds how long a cached token or provider configuration is
	// served without rereading the database (see the cache rule in
	// cache.go). Zero means DefaultCacheTTL. Negative disables both caches.
	CacheTTL time.Duration
	// RevocationPollInterval is how often RunRevocationRetries looks for
	// due revocations. Zero means 30 s.
	RevocationPollInterval time.Duration
	// RevocationMaxAttempts is how many attempts a queued revocation gets
	// before it is given up. Zero means 20.
	RevocationMaxAttempts int
	// RevocationMaxAge is how long a queued revocation is retried before
	// it is given up. Zero means 7 days.
	RevocationMaxAge time.Duration
}

// Vault hands out, refreshes and revokes users' tokens. It is safe for
// concurrent use, and any number of Vaults (replicas) may share one
// database.
//
// Reads of a valid token are served from an in-process cache once
// RunCacheInvalidation has connected; run it for the life of the Vault.
// Run RunRevocationRetries too, or revocations that failed are never
// retried.
type Vault struct {
	store     *store.Store
	keyring   *keyring.Keyring
	providers Providers
	client    *oauthclient.Client
	audit     *audit.Recorder
	logger    *slog.Logger
	metrics   *metrics

	now       func() time.Time
	jitter    func(time.Duration) time.Duration
	replicaID string

	maxMargin     time.Duration
	leaseDuration time.Duration
	waitTimeout   time.Duration

	revocationPoll        time.Duration
	revocationMaxAttempts int
	revocationMaxAge      time.Duration

	tokens  *tokenCache
	configs *configCache
	flights singleflight.Group

	// pauseMu guards pausedUntil, which maps a connection to the time
	// before which this replica makes no refresh attempt after a failed
	// one, while the old token is still valid.
	pauseMu     sync.Mutex
	pausedUntil map[cacheKey]time.Time
}

// New returns a Vault that keeps tokens in st, sealed with kr, resolves
// providers with providers, talks to them with client and records audit
// events with rec (nil records none). opts may be nil.
func New(st *store.Store, kr *keyring.Keyring, providers Providers, client *oauthclient.Client, rec *audit.Recorder, opts *Options) *Vault {
	var o Options
	if opts != nil {
		o = *opts
	}
	v := &Vault{
		store: st, keyring: kr, providers: providers, client: client, audit: rec,
		logger: o.Logger, now: o.Now, jitter: o.Jitter, replicaID: o.ReplicaID,
		maxMargin: o.RefreshMargin, leaseDuration: o.LeaseDuration, waitTimeout: o.WaitTimeout,
		revocationPoll: o.RevocationPollInterval, revocationMaxAttempts: o.RevocationMaxAttempts,
		revocationMaxAge: o.RevocationMaxAge,
		pausedUntil:      map[cacheKey]time.Time{},
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.jitter == nil {
		v.jitter = randomJitter
	}
	if v.replicaID == "" {
		v.replicaID = randomID()
	}
	if v.maxMargin <= 0 || v.maxMargin > MaxRefreshMargin {
		v.maxMargin = MaxRefreshMargin
	}

	httpTimeout := client.Timeout()
	if v.leaseDuration == 0 {
		v.leaseDuration = 2*httpTimeout + 5*time.Second
	}
	v.leaseDuration = max(v.leaseDuration, 2*httpTimeout)
	if v.waitTimeout <= 0 {
		v.waitTimeout = httpTimeout + 5*time.Second
	}

	if v.revocationPoll <= 0 {
		v.revocationPoll = defaultRevocationPollInterval
	}
	if v.revocationMaxAttempts <= 0 {
		v.revocationMaxAttempts = defaultRevocationMaxAttempts
	}
	if v.revocationMaxAge <= 0 {
		v.revocationMaxAge = defaultRevocationMaxAge
	}

	ttl := o.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if ttl > 0 {
		v.tokens = newTokenCache(ttl)
		v.configs = newConfigCache(ttl)
	}
	v.metrics = newMetrics(o.Registerer)
	return v
}

func randomJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return randv2.N(limit)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TokenOptions adjusts a Token call. The zero value reads a valid token.
type TokenOptions struct {
	// MinScopes are scopes the token must hold. A connection lacking one
	// gives ConsentRequired(scopes_missing).
	MinScopes []string
	// ForceRefresh refreshes the token even when it is not due, for a
	// caller whose request the provider rejected with 401.
	ForceRefresh bool
	// Generation, with ForceRefresh, is the generation of the token the
	// provider rejected. When the stored token is already newer, it is
	// returned without another refresh, so that many callers reporting
	// the same rejection cause one refresh. Zero refreshes in any case.
	Generation int64
	// ActorID names who receives the token, such as "api_token:<id>" or
	// a user id. When set, the handout is recorded in the audit trail as
	// token_issued, and refreshes name it as their actor. In-process
	// callers that use the token themselves leave it empty, so that
	// cached reads write nothing.
	ActorID string
}

// Token returns a usable access token of the user for the provider,
// refreshing it first when it is due: at its expiry minus the smaller of
// RefreshMargin and half its lifetime, minus jitter. A token whose expiry
// is unknown is used as is and refreshed only on ForceRefresh.
//
// Errors: a *ConsentRequiredError (errors.Is ErrConsentRequired) when the
// user is not connected, must consent again (needs_reauth, which includes
// scopes_changed: the provider now has scopes the consent did not cover),
// lacks MinScopes, or disconnected; ErrTemporarilyUnavailable when the
// token has expired and a refresh failed transiently; ErrRefreshFailed
// when the provider rejected the client itself; ErrProviderNotFound and
// ErrProviderDisabled for the provider.
func (v *Vault) Token(ctx context.Context, userID, providerID string, opts TokenOptions) (*Token, error) {
	if userID == "" || providerID == "" {
		return nil, errors.New("vault: token: empty user or provider id")
	}
	key := cacheKey{userID, providerID}
	now := v.now()

	if !opts.ForceRefresh {
		// A token handed to another process (ActorID set) is checked
		// against the database first, so a disconnect on another replica
		// applies at once even if its notification is late or lost.
		if tok, ok := v.tokens.get(key, now, opts.MinScopes); ok && (opts.ActorID == "" || v.stillCurrent(ctx, key, tok.Generation)) {
			v.metrics.cacheHits.Inc()
			v.recordIssued(ctx, userID, providerID, opts.ActorID, tok)
			return tok, nil
		}
		v.metrics.cacheMisses.Inc()
	}

	cfg, err := v.resolve(ctx, providerID)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, fmt.Errorf("%w: %q", ErrProviderDisabled, providerID)
	}

	seq := v.tokens.snapshot()
	cur, err := v.load(ctx, userID, providerID)
	if err != nil {
		return nil, err
	}
	e, err := v.usableEntry(cur, cfg, now)
	if err != nil {
		return nil, err
	}
	forced := opts.ForceRefresh && (opts.Generation == 0 || cur.rec.Generation <= opts.Generation)
	if !forced && !e.due(now) {
		v.tokens.putIf(seq, key, e)
		return v.handOut(ctx, userID, providerID, opts, e)
	}

	e, err = v.refresh(ctx, cfg, cur, forced, opts.ActorID)
	if err != nil {
		return nil, err
	}
	return v.handOut(ctx, userID, providerID, opts, e)
}

// stillCurrent reports whether the stored connection is still connected at
// generation.
func (v *Vault) stillCurrent(ctx context.Context, key cacheKey, generation int64) bool {
	rec, err := v.store.GetToken(ctx, key.userID, key.providerID)
	return err == nil && rec.Status == store.TokenConnected && rec.Generation == generation
}

// handOut checks the caller's required scopes against e and returns a
// copy of its token.
func (v *Vault) handOut(ctx context.Context, userID, providerID string, opts TokenOptions, e *entry) (*Token, error) {
	if missing := missingScopes(opts.MinScopes, e.held); len(missing) > 0 {
		return nil, &ConsentRequiredError{
			Reason:        ReasonScopesMissing,
			Detail:        "the connection lacks scopes the caller requires; the user must consent to them",
			MissingScopes: missing,
		}
	}
	tok := *e.token
	v.recordIssued(ctx, userID, providerID, opts.ActorID, &tok)
	return &tok, nil
}

func (v *Vault) recordIssued(ctx context.Context, userID, providerID, actorID string, tok *Token) {
	if actorID == "" {
		return
	}
	v.audit.Record(ctx, audit.Event{
		Action: audit.TokenIssued, ActorID: actorID, UserID: userID, ProviderID: providerID, Outcome: audit.OK,
		Detail: map[string]any{"generation": tok.Generation},
	})
}

// load reads and decrypts the row of the user for the provider. A missing
// row is ConsentRequired(not_connected).
func (v *Vault) load(ctx context.Context, userID, providerID string) (*opened, error) {
	rec, err := v.store.GetToken(ctx, userID, providerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &ConsentRequiredError{Reason: ReasonNotConnected,
			Detail: "the user has not connected this provider"}
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read token: %w", err)
	}
	return v.open(rec)
}

// usableEntry returns the cache entry of an opened row, or the
// *ConsentRequiredError that keeps its token from being handed out.
func (v *Vault) usableEntry(cur *opened, cfg *provider.Config, now time.Time) (*entry, error) {
	st := evaluate(cur, cfg, now)
	switch st.Status {
	case StatusRevoked:
		return nil, &ConsentRequiredError{Reason: ReasonRevoked,
			Detail: "the user disconnected this provider"}
	case StatusNeedsReauth:
		return nil, &ConsentRequiredError{Reason: ReasonNeedsReauth, StatusReason: st.Reason,
			Detail: "the connection must be renewed by the user", MissingScopes: st.MissingScopes}
	case StatusConnected:
	default:
		return nil, fmt.Errorf("vault: token row has unknown status %q", cur.rec.Status)
	}
	return &entry{
		token:     cur.token(),
		held:      heldScopes(cur.rec.Scopes, cur.extras.RequestedScopes),
		refreshAt: v.refreshAt(cur.rec),
		filledAt:  now,
	}, nil
}

// refreshAt returns when the row's token becomes due for refresh: its
// expiry minus the smaller of maxMargin and half its lifetime, minus up
// to a tenth of that margin of jitter. It returns zero for an unknown
// expiry.
func (v *Vault) refreshAt(rec *store.TokenRecord) time.Time {
	if rec.ExpiresAt.IsZero() {
		return time.Time{}
	}
	issued := rec.RefreshedAt
	if issued.IsZero() {
		issued = rec.ConnectedAt
	}
	lifetime := rec.ExpiresAt.Sub(issued)
	if lifetime <= 0 {
		return rec.ExpiresAt
	}
	margin := min(v.maxMargin, lifetime/2)
	return rec.ExpiresAt.Add(-margin - v.jitter(margin/10))
}

// resolve returns the provider's configuration, from the configuration
// cache when it is fresh.
func (v *Vault) resolve(ctx context.Context, providerID string) (*provider.Config, error) {
	now := v.now()
	if cfg := v.configs.get(providerID, now); cfg != nil {
		return cfg, nil
	}
	cfg, err := v.providers.Resolve(ctx, providerID)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrProviderNotFound, providerID)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: resolve provider %q: %w", providerID, err)
	}
	v.configs.put(providerID, cfg, now)
	return cfg, nil
}
