// Package provider is the registry of OAuth providers that admins register
// and users later connect accounts to. It owns the vendor presets (as
// data), validation, discovery with issuer checks, and Resolve, which
// gives the consent flow and the vault one provider's complete
// configuration with its client secret decrypted.
//
// The package does not handle users or their tokens. It sends no request
// to a vendor, because vendor endpoints come from presets. The only
// requests it sends fetch custom providers' discovery documents.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
)

// Errors returned by Registry methods. Callers compare with errors.Is.
var (
	// ErrNotFound means no provider has the id.
	ErrNotFound = errors.New("provider: not found")
	// ErrAlreadyExists means a provider with the id exists.
	ErrAlreadyExists = errors.New("provider: already exists")
)

// callbackPath is the redirect URI's path under the external URL. Every
// provider shares it, because the consent flow's state records which
// provider a callback belongs to.
const callbackPath = "/oauth/callback"

// Options configures a Registry. The zero value and nil are valid.
//
// HTTP endpoints are accepted only on loopback hosts (127.0.0.0/8, ::1,
// localhost), so that a provider on the same machine, such as a local demo
// or test server, works without TLS. No option turns that exception off or
// widens it.
type Options struct {
	// ExternalURL is Toolgate's public base URL. RedirectURI appends
	// /oauth/callback to it. Nil makes RedirectURI return the path
	// alone, which suits only tests.
	ExternalURL *url.URL
	// HTTPClient fetches discovery documents. Nil means a client with
	// default settings. The registry uses a copy whose CheckRedirect keeps
	// redirects on the same host.
	HTTPClient *http.Client
	// DiscoveryTimeout limits one discovery fetch, from connecting to the
	// end of the body. Zero means 10 seconds.
	DiscoveryTimeout time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives a line for each create, update, delete and failed
	// discovery. Nil discards them.
	Logger *slog.Logger
}

// Registry creates, reads, changes and deletes providers, and resolves a
// provider's configuration for the consent flow and the vault. It is safe
// for concurrent use. All its state is in the store, so several replicas
// may share one database.
type Registry struct {
	store            *store.Store
	keyring          *keyring.Keyring
	redirectURI      string
	client           *http.Client
	discoveryTimeout time.Duration
	now              func() time.Time
	logger           *slog.Logger
}

// NewRegistry returns a Registry that keeps providers in st and seals
// client secrets with kr. opts may be nil.
func NewRegistry(st *store.Store, kr *keyring.Keyring, opts *Options) *Registry {
	var o Options
	if opts != nil {
		o = *opts
	}
	r := &Registry{
		store:            st,
		keyring:          kr,
		redirectURI:      callbackPath,
		client:           newDiscoveryClient(o.HTTPClient),
		discoveryTimeout: o.DiscoveryTimeout,
		now:              o.Now,
		logger:           o.Logger,
	}
	if o.ExternalURL != nil {
		r.redirectURI = o.ExternalURL.JoinPath(callbackPath).String()
	}
	if r.discoveryTimeout <= 0 {
		r.discoveryTimeout = defaultDiscoveryTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// RedirectURI returns the redirect URI to register at every provider:
// the external URL followed by /oauth/callback.
func (r *Registry) RedirectURI() string { return r.redirectURI }

// Create validates in, fetches and checks the discovery document of a
// custom provider with a discovery_url, seals the client secret and
// stores the provider. It returns a *ValidationError for rejected input,
// an error wrapping ErrAlreadyExists for a taken id, and stores nothing
// on any error.
func (r *Registry) Create(ctx context.Context, in CreateInput) (*View, error) {
	s := specFromCreate(in)
	var c checker
	c.checkSpec(s)
	if in.ClientSecret != "" {
		c.checkSecretValue(in.ClientSecret)
	}
	var discoveryURL *string
	if in.DiscoveryURL != "" {
		discoveryURL = &in.DiscoveryURL
	}
	wantIssuer := c.checkSource(s.Type, discoveryURL, in.AuthorizationServerMetadata, true)
	if s.Type == TypeCustom && in.AuthorizationServerMetadata != nil {
		s.Metadata = in.AuthorizationServerMetadata.clone()
		c.checkMetadata(s.Metadata, false, s.HasSecret)
	}
	if err := c.err(); err != nil {
		return nil, err
	}

	// Check for a taken id before discovery, which may take seconds. The
	// insert below still catches a provider created meanwhile.
	if _, err := r.store.GetProvider(ctx, s.ID); err == nil {
		return nil, fmt.Errorf("%w: %q", ErrAlreadyExists, s.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("provider: create %q: %w", s.ID, err)
	}

	if discoveryURL != nil {
		md, err := r.discover(ctx, s.ID, *discoveryURL, wantIssuer)
		if err != nil {
			return nil, err
		}
		s.DiscoveryURL, s.Metadata = *discoveryURL, md
		c.checkMetadata(md, true, s.HasSecret)
		if err := c.err(); err != nil {
			return nil, err
		}
	}

	sealed, err := r.seal(s.ID, in.ClientSecret)
	if err != nil {
		return nil, err
	}
	now := r.timestamp()
	p := &store.Provider{ID: s.ID, Type: string(s.Type), ClientSecret: sealed, CreatedAt: now, UpdatedAt: now}
	if err := s.writeTo(p); err != nil {
		return nil, fmt.Errorf("provider: create %q: %w", s.ID, err)
	}
	if err := r.store.CreateProvider(ctx, p); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, fmt.Errorf("%w: %q", ErrAlreadyExists, s.ID)
		}
		return nil, fmt.Errorf("provider: create %q: %w", s.ID, err)
	}

	r.logger.Info("provider created", "provider_id", s.ID, "type", string(s.Type))
	return r.view(p)
}

// Get returns the provider with id, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (*View, error) {
	p, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.view(p)
}

// List returns every provider, ordered by id.
func (r *Registry) List(ctx context.Context) ([]View, error) {
	ps, err := r.store.ListProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: list: %w", err)
	}
	views := make([]View, 0, len(ps))
	for i := range ps {
		v, err := r.view(&ps[i])
		if err != nil {
			return nil, err
		}
		views = append(views, *v)
	}
	return views, nil
}

// Update applies a PATCH to the provider with id: absent fields keep their
// stored values, and present ones replace them whole. Metadata changes
// leave the sealed client secret untouched byte for byte. Credentials
// change only when in carries both client_id and client_secret. A present
// discovery_url fetches the document again before the write.
//
// The change is validated against the provider as a whole and written in
// one store transaction, which also re-reads the row, so a concurrent
// update is never overwritten with stale fields. Update returns a
// *ValidationError for rejected input, an error wrapping ErrNotFound for
// an unknown id, and changes nothing on any error.
func (r *Registry) Update(ctx context.Context, id string, in PatchInput) (*View, error) {
	current, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	// Validate before any network request, so that bad input fails fast.
	_, wantIssuer, err := mergePatch(current, in, nil)
	if err != nil {
		return nil, err
	}

	var discovered *Metadata
	if in.DiscoveryURL != nil {
		discovered, err = r.discover(ctx, id, *in.DiscoveryURL, wantIssuer)
		if err != nil {
			return nil, err
		}
	}
	rotate := in.ClientID != nil && in.ClientSecret != nil
	var sealed string
	if rotate {
		if sealed, err = r.seal(id, *in.ClientSecret); err != nil {
			return nil, err
		}
	}

	now := r.timestamp()
	updated, err := r.store.UpdateProvider(ctx, id, func(p *store.Provider) error {
		s, _, err := mergePatch(p, in, discovered)
		if err != nil {
			return err
		}
		if err := s.writeTo(p); err != nil {
			return fmt.Errorf("provider: update %q: %w", id, err)
		}
		if rotate {
			p.ClientSecret = sealed
		}
		p.UpdatedAt = now
		return nil
	})
	if err != nil {
		var ve *ValidationError
		switch {
		case errors.As(err, &ve):
			return nil, err
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
		default:
			return nil, fmt.Errorf("provider: update %q: %w", id, err)
		}
	}

	r.logger.Info("provider updated", "provider_id", id,
		"credentials_rotated", rotate, "rediscovered", discovered != nil)
	return r.view(updated)
}

// Delete removes the provider with id, or returns an error wrapping
// ErrNotFound.
//
// NOTE: deleting a provider neither revokes nor deletes the tokens that
// users hold for it, which the vault owns.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if err := r.store.DeleteProvider(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		return fmt.Errorf("provider: delete %q: %w", id, err)
	}
	r.logger.Info("provider deleted", "provider_id", id)
	return nil
}

// load reads the stored provider, mapping a missing row to ErrNotFound.
func (r *Registry) load(ctx context.Context, id string) (*store.Provider, error) {
	p, err := r.store.GetProvider(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return nil, fmt.Errorf("provider: get %q: %w", id, err)
	}
	return p, nil
}

// seal encrypts a client secret for the provider's row. An empty secret
// (a public client) stays empty.
func (r *Registry) seal(id string, secret Secret) (string, error) {
	if secret == "" {
		return "", nil
	}
	sealed, err := r.keyring.Seal([]byte(secret), store.ProviderSecretAAD(id))
	if err != nil {
		return "", fmt.Errorf("provider: seal client secret of %q: %w", id, err)
	}
	return sealed, nil
}

// timestamp returns the current time at the store's precision, so that a
// returned View equals what a later Get reads back.
func (r *Registry) timestamp() time.Time {
	return r.now().UTC().Truncate(time.Microsecond)
}
