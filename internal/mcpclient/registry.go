package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
)

// TokenSource gives the access token that a user holds at a provider. The
// vault implements it through an adapter, since this package does not
// import the vault.
type TokenSource interface {
	// AccessToken returns a currently valid access token of userID at
	// providerID, refreshing it first when needed. Its error explains why
	// there is none (never connected, consent needed again, vault
	// failure). mcpclient returns that error wrapped in a *TokenError.
	AccessToken(ctx context.Context, userID, providerID string) (string, error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context, userID, providerID string) (string, error)

// AccessToken calls f.
func (f TokenSourceFunc) AccessToken(ctx context.Context, userID, providerID string) (string, error) {
	return f(ctx, userID, providerID)
}

var _ TokenSource = TokenSourceFunc(nil)

// Default catalog timings.
const (
	defaultCatalogMaxAge = 10 * time.Minute
	defaultCatalogRetry  = time.Minute
)

// Options configures a Registry and its Client. The zero value and nil
// are valid.
type Options struct {
	// Tokens gives users' access tokens for servers with a provider_id.
	// Nil makes every request to such a server fail with a *TokenError.
	Tokens TokenSource
	// HTTPClient sends the requests to MCP servers. Nil means a client
	// with default settings. Each session uses a copy with its own
	// transport wrapper and no cookie jar, so only the client's Transport
	// is used. Each server's timeout replaces the client's Timeout.
	HTTPClient *http.Client
	// CatalogMaxAge is the age of a cached catalog from which
	// Client.ToolsFor fetches it again. Zero means 10 minutes.
	CatalogMaxAge time.Duration
	// CatalogRetryDelay is how long Client.ToolsFor waits after a server
	// failed a catalog fetch before it tries again. Zero means 1 minute.
	CatalogRetryDelay time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives a line for each create, update, delete, catalog
	// fetch and failure. Nil discards them.
	Logger *slog.Logger
}

// Registry creates, reads, changes and deletes MCP servers, and refreshes
// and tests them for the admin API. It is safe for concurrent use. All its
// state is in the store, so several replicas may share one database.
type Registry struct {
	store   *store.Store
	keyring *keyring.Keyring
	client  *Client
	now     func() time.Time
	logger  *slog.Logger
}

// NewRegistry returns a Registry that keeps servers in st and seals their
// static headers with kr, and the Client that connects to them (see
// Registry.Client). opts may be nil.
func NewRegistry(st *store.Store, kr *keyring.Keyring, opts *Options) *Registry {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.CatalogMaxAge <= 0 {
		o.CatalogMaxAge = defaultCatalogMaxAge
	}
	if o.CatalogRetryDelay <= 0 {
		o.CatalogRetryDelay = defaultCatalogRetry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}

	r := &Registry{store: st, keyring: kr, now: o.Now, logger: o.Logger}
	r.client = &Client{
		registry:      r,
		tokens:        o.Tokens,
		httpClient:    o.HTTPClient,
		catalogMaxAge: o.CatalogMaxAge,
		catalogRetry:  o.CatalogRetryDelay,
		now:           o.Now,
		logger:        o.Logger,
	}
	return r
}

// Client returns the Client that connects to the registry's servers.
func (r *Registry) Client() *Client { return r.client }

// Create validates in, seals the static headers and stores the server.
// It returns a *ValidationError for rejected input (422 when provider_id
// names no provider), an error wrapping ErrAlreadyExists for a taken id,
// and stores nothing on any error. It does not contact the server: use
// RefreshTools or TestConnection for that.
func (r *Registry) Create(ctx context.Context, in CreateInput) (*View, error) {
	var c checker
	headers := c.checkHeaders(in.Headers)
	s := &spec{
		ID:           in.ID,
		DisplayName:  in.DisplayName,
		URL:          in.URL,
		Transport:    in.Transport,
		ProviderID:   in.ProviderID,
		HeaderNames:  sortedNames(headers),
		AllowedRoles: dedupe(in.AllowedRoles),
		Enabled:      in.Enabled == nil || *in.Enabled,
		Timeout:      c.parseTimeout(in.Timeout),
	}
	if s.Transport == "" {
		s.Transport = TransportStreamableHTTP
	}
	c.checkSpec(s, len(in.Headers) > 0)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := r.checkProvider(ctx, &c, s.ProviderID); err != nil {
		return nil, err
	}
	if err := c.err(); err != nil {
		return nil, err
	}

	sealed, err := r.sealHeaders(s.ID, headers)
	if err != nil {
		return nil, err
	}
	now := r.timestamp()
	m := &store.MCPServer{ID: s.ID, Headers: sealed, Tools: json.RawMessage("[]"), CreatedAt: now, UpdatedAt: now}
	s.writeTo(m)
	if err := r.store.CreateMCPServer(ctx, m); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, fmt.Errorf("%w: %q", ErrAlreadyExists, s.ID)
		}
		return nil, fmt.Errorf("mcpclient: create %q: %w", s.ID, err)
	}

	r.logger.Info("mcp server created", "server_id", s.ID, "transport", string(s.Transport), "provider_id", s.ProviderID)
	return r.view(m)
}

// Get returns the server with id, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (*View, error) {
	m, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.view(m)
}

// List returns every server, ordered by id.
func (r *Registry) List(ctx context.Context) ([]View, error) {
	ms, err := r.store.ListMCPServers(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: list: %w", err)
	}
	views := make([]View, 0, len(ms))
	for i := range ms {
		v, err := r.view(&ms[i])
		if err != nil {
			return nil, err
		}
		views = append(views, *v)
	}
	return views, nil
}

// Update applies a PATCH to the server with id: absent fields keep their
// stored values, and present ones replace them whole. Headers left out
// keep their sealed value byte for byte. The change is validated against
// the server as a whole and written in one store transaction, which
// re-reads the row, so a concurrent update is never overwritten with
// stale fields. Update returns a *ValidationError for rejected input, an
// error wrapping ErrNotFound for an unknown id, and changes nothing on any
// error. The cached catalog stays until the next fetch replaces it.
func (r *Registry) Update(ctx context.Context, id string, in PatchInput) (*View, error) {
	defer r.client.targets.drop(id)
	current, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	// Validate before sealing, so that bad input fails fast.
	s, headers, err := mergePatch(current, in)
	if err != nil {
		return nil, err
	}
	if in.ProviderID != nil {
		var c checker
		if err := r.checkProvider(ctx, &c, s.ProviderID); err != nil {
			return nil, err
		}
		if err := c.err(); err != nil {
			return nil, err
		}
	}
	var sealed string
	if in.Headers != nil {
		if sealed, err = r.sealHeaders(id, headers); err != nil {
			return nil, err
		}
	}

	now := r.timestamp()
	updated, err := r.store.UpdateMCPServer(ctx, id, func(m *store.MCPServer) error {
		s, _, err := mergePatch(m, in)
		if err != nil {
			return err
		}
		s.writeTo(m)
		if in.Headers != nil {
			m.Headers = sealed
		}
		// UpdatedAt is the configuration's version (see
		// store.SetMCPServerTools). Keep it increasing even when two
		// updates share a clock reading.
		previous := m.UpdatedAt
		m.UpdatedAt = now
		if !m.UpdatedAt.After(previous) {
			m.UpdatedAt = previous.Add(time.Microsecond)
		}
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
			return nil, fmt.Errorf("mcpclient: update %q: %w", id, err)
		}
	}

	r.logger.Info("mcp server updated", "server_id", id, "headers_replaced", in.Headers != nil)
	return r.view(updated)
}

// Delete removes the server with id, or returns an error wrapping
// ErrNotFound.
func (r *Registry) Delete(ctx context.Context, id string) error {
	defer r.client.targets.drop(id)
	if err := r.store.DeleteMCPServer(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		return fmt.Errorf("mcpclient: delete %q: %w", id, err)
	}
	r.logger.Info("mcp server deleted", "server_id", id)
	return nil
}

// mergePatch applies in to the stored server m and validates the result.
// It returns the merged spec and, when in carries headers, their
// canonical form.
func mergePatch(m *store.MCPServer, in PatchInput) (*spec, map[string]string, error) {
	var c checker
	s := specFromStore(m)

	if in.ID != nil && *in.ID != m.ID {
		c.Invalidf("id", "the id cannot change (stored %q, sent %q); create a new server and delete this one instead", m.ID, *in.ID)
	}
	if in.DisplayName != nil {
		s.DisplayName = *in.DisplayName
	}
	if in.URL != nil {
		s.URL = *in.URL
	}
	if in.Transport != nil {
		s.Transport = *in.Transport
	}
	if in.ProviderID != nil {
		s.ProviderID = *in.ProviderID
	}
	var headers map[string]string
	if in.Headers != nil {
		headers = c.checkHeaders(*in.Headers)
		s.HeaderNames = sortedNames(headers)
	}
	if in.AllowedRoles != nil {
		s.AllowedRoles = dedupe(*in.AllowedRoles)
	}
	if in.Enabled != nil {
		s.Enabled = *in.Enabled
	}
	if in.Timeout != nil {
		s.Timeout = c.parseTimeout(*in.Timeout)
	}

	c.checkSpec(s, in.Headers != nil && len(*in.Headers) > 0)
	if err := c.err(); err != nil {
		return nil, nil, err
	}
	return s, headers, nil
}

func specFromStore(m *store.MCPServer) *spec {
	return &spec{
		ID:           m.ID,
		DisplayName:  m.DisplayName,
		URL:          m.URL,
		Transport:    Transport(m.Transport),
		ProviderID:   m.ProviderID,
		HeaderNames:  slices.Clone(m.HeaderNames),
		AllowedRoles: slices.Clone(m.AllowedRoles),
		Enabled:      m.Enabled,
		Timeout:      m.Timeout,
	}
}

// writeTo copies the spec's fields into m, leaving the sealed headers,
// the catalog and the timestamps alone.
func (s *spec) writeTo(m *store.MCPServer) {
	m.DisplayName = s.DisplayName
	m.URL = s.URL
	m.Transport = string(s.Transport)
	m.ProviderID = s.ProviderID
	m.HeaderNames = s.HeaderNames
	m.AllowedRoles = s.AllowedRoles
	m.Enabled = s.Enabled
	m.Timeout = s.Timeout
}

// checkProvider adds a 422 to c when providerID is set and names no
// provider. It returns an error only when the store fails.
func (r *Registry) checkProvider(ctx context.Context, c *checker, providerID string) error {
	if providerID == "" {
		return nil
	}
	_, err := r.store.GetProvider(ctx, providerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.Unacceptablef("provider_id", "no provider has id %q; register it under /api/v1/admin/providers first, or send \"\" to send no user token", providerID)
		return nil
	case err != nil:
		return fmt.Errorf("mcpclient: look up provider %q: %w", providerID, err)
	}
	return nil
}

// load reads the stored server, mapping a missing row to ErrNotFound.
func (r *Registry) load(ctx context.Context, id string) (*store.MCPServer, error) {
	m, err := r.store.GetMCPServer(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return nil, fmt.Errorf("mcpclient: get %q: %w", id, err)
	}
	return m, nil
}

// sealHeaders encrypts the static headers as one JSON object for the
// server's row. No headers give "".
func (r *Registry) sealHeaders(id string, headers map[string]string) (string, error) {
	if len(headers) == 0 {
		return "", nil
	}
	plain, err := json.Marshal(headers)
	if err != nil {
		return "", fmt.Errorf("mcpclient: encode headers of %q: %w", id, err)
	}
	sealed, err := r.keyring.Seal(plain, store.MCPServerHeadersAAD(id))
	if err != nil {
		return "", fmt.Errorf("mcpclient: seal headers of %q: %w", id, err)
	}
	return sealed, nil
}

// openHeaders decrypts a server's static headers.
func (r *Registry) openHeaders(m *store.MCPServer) (map[string]string, error) {
	if m.Headers == "" {
		return nil, nil
	}
	plain, err := r.keyring.Open(m.Headers, store.MCPServerHeadersAAD(m.ID))
	if err != nil {
		return nil, fmt.Errorf("mcpclient: open headers of %q: %w", m.ID, err)
	}
	var headers map[string]string
	if err := json.Unmarshal(plain, &headers); err != nil {
		return nil, fmt.Errorf("mcpclient: decode headers of %q: %w", m.ID, err)
	}
	return headers, nil
}

// view returns the admin view of m, with the catalog decoded and no
// header value.
func (r *Registry) view(m *store.MCPServer) (*View, error) {
	tools, err := decodeCatalog(m)
	if err != nil {
		return nil, err
	}
	v := &View{
		ID:           m.ID,
		DisplayName:  m.DisplayName,
		URL:          m.URL,
		Transport:    Transport(m.Transport),
		ProviderID:   m.ProviderID,
		HeaderNames:  nonNil(m.HeaderNames),
		AllowedRoles: nonNil(m.AllowedRoles),
		Enabled:      m.Enabled,
		Timeout:      m.Timeout.String(),
		Tools:        tools,
		LastError:    m.LastError,
		CreatedAt:    m.CreatedAt,
		UpdatedAt:    m.UpdatedAt,
	}
	if !m.ToolsFetchedAt.IsZero() {
		at := m.ToolsFetchedAt
		v.ToolsFetchedAt = &at
	}
	if !m.LastErrorAt.IsZero() {
		at := m.LastErrorAt
		v.LastErrorAt = &at
	}
	return v, nil
}

// timestamp returns the current time at the store's precision, so that a
// returned View equals what a later Get reads back.
func (r *Registry) timestamp() time.Time {
	return r.now().UTC().Truncate(time.Microsecond)
}

func nonNil(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

// allowsRoles reports whether a user with roles may use the server: its
// allowed roles are empty or share one with roles.
func allowsRoles(allowed, roles []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, role := range roles {
		if slices.Contains(allowed, role) {
			return true
		}
	}
	return false
}
