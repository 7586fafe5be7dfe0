package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/vault"
)

// workloadRole lets an identity fetch tokens of other users with
// user_id, as an agent runtime acting for them does.
const workloadRole = "workload"

// Input limits of the token route.
const (
	maxMinScopes  = 50
	maxScopeBytes = 256
	maxUserIDLen  = 256
)

// defaultRetryAfter is the Retry-After of a 503 when the provider named
// no delay.
const defaultRetryAfter = 5 * time.Second

// ConsentStarter starts a consent flow for a user and a provider,
// requesting scopes beyond the provider's configured ones, and returns
// the consent's id, the URL the user opens to consent, and when the
// consent expires.
type ConsentStarter interface {
	StartConsent(ctx context.Context, userID, providerID string, scopes []string) (consentID, authorizationURL string, expiresAt time.Time, err error)
}

// routeConnectors registers the routes with which signed-in users see,
// use and end their own connections. Each returns 401 without an
// identity.
func (s *Server) routeConnectors() {
	if s.opts.Providers == nil {
		s.logger.Error("connector routes left out: Options.Vault is set but Options.Providers is not")
		return
	}
	s.route("GET /api/v1/connectors", authn.RequireUser(s.handle(s.listConnectors)))
	s.route("GET /api/v1/connectors/{provider_id}/status", authn.RequireUser(s.handle(s.connectorStatus)))
	s.route("DELETE /api/v1/connectors/{provider_id}/connection", authn.RequireUser(s.handle(s.disconnectConnector)))
	s.route("POST /api/v1/connectors/{provider_id}/token", authn.RequireUser(s.handle(s.connectorToken)))
}

// connectorView is one entry of GET /api/v1/connectors.
type connectorView struct {
	ProviderID    string    `json:"provider_id"`
	DisplayName   string    `json:"display_name"`
	Type          string    `json:"type"`
	Icon          string    `json:"icon"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	Scopes        []string  `json:"scopes"`
	MissingScopes []string  `json:"missing_scopes,omitempty"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	ConnectedAt   time.Time `json:"connected_at,omitzero"`
}

// connectionStatus is the body of GET .../status. Unknown times are null.
type connectionStatus struct {
	Status        string     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	Scopes        []string   `json:"scopes"`
	MissingScopes []string   `json:"missing_scopes,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	ConnectedAt   *time.Time `json:"connected_at"`
}

// listConnectors serves GET /api/v1/connectors: the enabled providers
// the caller's roles allow, each with the caller's connection status.
func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())

	views, err := s.opts.Providers.List(r.Context())
	if err != nil {
		return err
	}
	statuses, err := s.opts.Vault.Statuses(r.Context(), id.UserID)
	if err != nil {
		return err
	}

	out := make([]connectorView, 0, len(views))
	for i := range views {
		v := &views[i]
		if !v.Enabled || !rolesAllow(v.AllowedRoles, id) {
			continue
		}
		item := connectorView{
			ProviderID: v.ID, DisplayName: v.DisplayName, Type: string(v.Type), Icon: v.Icon,
			Status: vault.StatusNotConnected, Scopes: []string{},
		}
		if st := statuses[v.ID]; st != nil {
			item.Status, item.Reason, item.Scopes, item.MissingScopes = st.Status, st.Reason, st.Scopes, st.MissingScopes
			item.ExpiresAt, item.ConnectedAt = st.ExpiresAt, st.ConnectedAt
		}
		out = append(out, item)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"connectors": out})
}

// connectorStatus serves GET /api/v1/connectors/{provider_id}/status. It
// reads the database and changes nothing.
func (s *Server) connectorStatus(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	providerID := r.PathValue("provider_id")
	if _, err := s.availableProvider(r.Context(), providerID, id, true); err != nil {
		return err
	}

	st, err := s.opts.Vault.Status(r.Context(), id.UserID, providerID)
	if err != nil {
		return vaultProblem(err, providerID)
	}
	body := connectionStatus{Status: st.Status, Reason: st.Reason, Scopes: st.Scopes, MissingScopes: st.MissingScopes}
	if !st.ExpiresAt.IsZero() {
		body.ExpiresAt = &st.ExpiresAt
	}
	if !st.ConnectedAt.IsZero() {
		body.ConnectedAt = &st.ConnectedAt
	}
	return writeJSON(w, http.StatusOK, body)
}

// disconnectConnector serves DELETE
// /api/v1/connectors/{provider_id}/connection. It returns 204 whether or
// not there was a connection. A user may disconnect from a provider that
// was since disabled or closed to their roles.
func (s *Server) disconnectConnector(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	providerID := r.PathValue("provider_id")
	if _, err := s.availableProvider(r.Context(), providerID, id, false); err != nil {
		return err
	}

	if err := s.opts.Vault.Disconnect(r.Context(), id.UserID, providerID, actorID(id)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenRequest is the body of POST /api/v1/connectors/{provider_id}/token.
// An empty body is the same as {}.
type tokenRequest struct {
	// UserID names the user whose token to fetch; only a workload may
	// name someone else. Empty means the caller.
	UserID    string   `json:"user_id"`
	MinScopes []string `json:"min_scopes"`
	// ForceRefresh refreshes the token, for a caller whose request the
	// provider rejected.
	ForceRefresh bool `json:"force_refresh"`
	// Generation, with ForceRefresh, is the generation of the rejected
	// token: a newer stored token is returned without another refresh.
	Generation int64 `json:"generation"`
}

// tokenResponse is the 200 body of the token route.
type tokenResponse struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Scopes      []string   `json:"scopes"`
	Generation  int64      `json:"generation"`
}

// connectorToken serves POST /api/v1/connectors/{provider_id}/token:
// permission, input, then the vault. The token_issued audit event names
// the caller as actor and the token's owner as user.
func (s *Server) connectorToken(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	providerID := r.PathValue("provider_id")

	var in tokenRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	if err := in.validate(); err != nil {
		return err
	}
	owner := id.UserID
	if in.UserID != "" && in.UserID != id.UserID {
		if !id.HasRole(workloadRole) {
			return problem.New(http.StatusForbidden, "forbidden",
				"only an identity with the "+workloadRole+" role may fetch another user's token; leave user_id out to fetch your own")
		}
		owner = in.UserID
	}
	// NOTE: a workload acting for a user skips the provider's role check,
	// because the user's roles are not known here. The connection itself
	// was made by a user whom the roles allowed at the time.
	if _, err := s.availableProvider(r.Context(), providerID, id, owner == id.UserID); err != nil {
		return err
	}

	tok, err := s.opts.Vault.Token(r.Context(), owner, providerID, vault.TokenOptions{
		MinScopes: in.MinScopes, ForceRefresh: in.ForceRefresh, Generation: in.Generation, ActorID: actorID(id),
	})
	if err != nil {
		return s.tokenProblem(w, r, err, owner, providerID, in.MinScopes)
	}

	body := tokenResponse{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Scopes: tok.Scopes, Generation: tok.Generation}
	if body.Scopes == nil {
		body.Scopes = []string{}
	}
	if !tok.ExpiresAt.IsZero() {
		body.ExpiresAt = &tok.ExpiresAt
	}
	// RFC 6749 section 5.1: responses carrying tokens must not be cached.
	w.Header().Set("Pragma", "no-cache")
	return writeJSON(w, http.StatusOK, body)
}

// validate checks the token request's fields, naming the first invalid
// one and how to fix it.
func (in *tokenRequest) validate() error {
	if len(in.UserID) > maxUserIDLen || strings.TrimSpace(in.UserID) != in.UserID || !printable(in.UserID) {
		return problem.BadRequest("user_id", fmt.Sprintf("must be a user id of at most %d printable characters without surrounding spaces", maxUserIDLen))
	}
	if len(in.MinScopes) > maxMinScopes {
		return problem.BadRequest("min_scopes", fmt.Sprintf("has %d entries; send at most %d", len(in.MinScopes), maxMinScopes))
	}
	for i, scope := range in.MinScopes {
		if scope == "" || len(scope) > maxScopeBytes || strings.ContainsAny(scope, " ,") || !printable(scope) {
			return problem.BadRequest(fmt.Sprintf("min_scopes[%d]", i),
				fmt.Sprintf("must be one scope of 1 to %d printable characters without spaces or commas", maxScopeBytes))
		}
	}
	if in.Generation < 0 {
		return problem.BadRequest("generation", "must not be negative; send the generation of the token the provider rejected")
	}
	if in.Generation != 0 && !in.ForceRefresh {
		return problem.BadRequest("generation", "is only meaningful with force_refresh: true; send both or neither")
	}
	return nil
}

// tokenProblem maps the vault's errors of a token read. Consent
// required is 409 with what the client needs to send the user to
// consent, including a started consent when ConsentStarter is set. A
// transient provider failure is 503 with a Retry-After header.
func (s *Server) tokenProblem(w http.ResponseWriter, r *http.Request, err error, userID, providerID string, minScopes []string) error {
	var consentErr *vault.ConsentRequiredError
	var oauthErr *oauthclient.Error
	switch {
	case errors.As(err, &consentErr):
		p := problem.New(http.StatusConflict, "consent_required",
			fmt.Sprintf("the user must consent to %s before a token can be issued (%s)", providerID, consentErr.Reason))
		p.Extra = map[string]any{"consent_required": true, "reason": consentErr.Reason}
		if consentErr.StatusReason != "" {
			p.Extra["status_reason"] = consentErr.StatusReason
		}
		if len(consentErr.MissingScopes) > 0 {
			p.Extra["missing_scopes"] = consentErr.MissingScopes
		}
		s.startConsentFor(r.Context(), p, userID, providerID, consentScopes(minScopes, consentErr.MissingScopes))
		return p

	case errors.Is(err, vault.ErrTemporarilyUnavailable):
		retryAfter := defaultRetryAfter
		if errors.As(err, &oauthErr) && oauthErr.RetryAfter > 0 {
			retryAfter = oauthErr.RetryAfter
		}
		p := problem.New(http.StatusServiceUnavailable, "provider_unavailable",
			fmt.Sprintf("the token expired and %s could not refresh it now; retry after %d seconds", providerID, retryAfterSeconds(retryAfter)))
		p.Cause = err
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retryAfter)))
		return p

	case errors.Is(err, vault.ErrRefreshFailed):
		p := problem.New(http.StatusBadGateway, "refresh_failed",
			fmt.Sprintf("%s rejected the token refresh; an administrator must check the provider's client configuration", providerID))
		p.Cause = err
		return p

	default:
		return vaultProblem(err, providerID)
	}
}

// startConsentFor adds a started consent's id, URL and expiry to p. A
// failure to start one is logged and leaves p without them.
func (s *Server) startConsentFor(ctx context.Context, p *problem.Error, userID, providerID string, scopes []string) {
	if s.opts.ConsentStarter == nil {
		return
	}
	consentID, authorizationURL, expiresAt, err := s.opts.ConsentStarter.StartConsent(ctx, userID, providerID, scopes)
	if err != nil {
		s.logger.Error("consent not started for a token request", "user_id", userID, "provider_id", providerID, "err", err)
		return
	}
	p.Extra["consent_id"] = consentID
	p.Extra["authorization_url"] = authorizationURL
	if !expiresAt.IsZero() {
		p.Extra["expires_at"] = expiresAt
	}
}

// consentScopes returns the scopes a new consent must request beyond the
// provider's configured ones.
func consentScopes(minScopes, missing []string) []string {
	out := slices.Clone(minScopes)
	for _, scope := range missing {
		if !slices.Contains(out, scope) {
			out = append(out, scope)
		}
	}
	return out
}

// availableProvider returns the provider if the caller may use it:
// existing, and, when forUse is set, enabled and open to the caller's
// roles. Anything else is 404, so that callers cannot learn of providers
// hidden from them.
func (s *Server) availableProvider(ctx context.Context, providerID string, id *authn.Identity, forUse bool) (*provider.View, error) {
	notFound := problem.New(http.StatusNotFound, "not_found",
		fmt.Sprintf("no provider %q is available to you; GET /api/v1/connectors lists yours", providerID))
	v, err := s.opts.Providers.Get(ctx, providerID)
	if errors.Is(err, provider.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if forUse && (!v.Enabled || !rolesAllow(v.AllowedRoles, id)) {
		return nil, notFound
	}
	return v, nil
}

// vaultProblem maps the vault's provider errors to 404; other errors
// pass through and become a 500 whose cause is only logged.
func vaultProblem(err error, providerID string) error {
	if errors.Is(err, vault.ErrProviderNotFound) || errors.Is(err, vault.ErrProviderDisabled) {
		return problem.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("no provider %q is available to you; GET /api/v1/connectors lists yours", providerID))
	}
	return err
}

// rolesAllow reports whether the identity may connect a provider open to
// allowed roles; an empty list allows everyone.
func rolesAllow(allowed []string, id *authn.Identity) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, role := range allowed {
		if id.HasRole(role) {
			return true
		}
	}
	return false
}

// actorID names the caller in audit events: "api_token:<id>" for an API
// token, the user id otherwise.
func actorID(id *authn.Identity) string {
	if id.Method == authn.MethodAPIToken && id.APITokenID != "" {
		return "api_token:" + id.APITokenID
	}
	return id.UserID
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
