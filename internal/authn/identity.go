package authn

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/problem"
)

// Values of Identity.Method.
const (
	MethodSession  = "session"
	MethodAPIToken = "api_token"
	MethodJWT      = "jwt"
)

// Identity is the authenticated caller of a request. Middleware stores it in
// the request context. Handlers read it with FromContext and must not modify
// it.
type Identity struct {
	// UserID is the OpenID subject ("sub"), the dev user's name, or the user
	// an API token was issued for.
	UserID string
	// Name and Email come from the sign-in or the JWT claims. Both are empty
	// for API tokens, and either may be empty when the provider omits it.
	Name  string
	Email string
	// Roles are the caller's roles: from the roles claim for sessions and
	// JWTs, as recorded at sign-in for sessions, and as given at creation for
	// API tokens.
	Roles []string
	// Method is MethodSession, MethodAPIToken or MethodJWT.
	Method string
	// CSRFToken is the session's CSRF token, which a client sends back in the
	// X-CSRF-Token header. Empty unless Method is MethodSession.
	CSRFToken string
	// APITokenID is the id of the API token used. Empty unless Method is
	// MethodAPIToken.
	APITokenID string

	// adminRole is the configured admin role, set by the Authenticator that
	// built the identity. Empty means DefaultAdminRole.
	adminRole string
}

// HasRole reports whether the identity has role.
func (i *Identity) HasRole(role string) bool {
	return i != nil && slices.Contains(i.Roles, role)
}

// IsAdmin reports whether the identity has the admin role. For an identity
// built by an Authenticator, the admin role is Options.AdminRole. For an
// identity built elsewhere, as in tests of other packages, it is
// DefaultAdminRole.
func (i *Identity) IsAdmin() bool {
	if i == nil {
		return false
	}
	role := i.adminRole
	if role == "" {
		role = DefaultAdminRole
	}
	return i.HasRole(role)
}

type identityKey struct{}

// WithIdentity returns a copy of ctx that carries id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity stored by Middleware or WithIdentity. It
// returns false for an anonymous request.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}

// RequireUser passes requests that carry an identity to next and rejects the
// others with 401 and a problem+json body. It must run after Middleware.
func RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); !ok {
			writeUnauthenticated(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireAdmin passes requests whose identity has Options.AdminRole to next.
// It rejects requests without an identity with 401 and those of other users
// with 403, both with a problem+json body. It must run after Middleware.
func (a *Authenticator) RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			writeUnauthenticated(w, r)
			return
		}
		if !id.HasRole(a.opts.AdminRole) {
			problem.Write(w, r, a.logger, problem.New(http.StatusForbidden, "admin_required",
				"this action needs the "+a.opts.AdminRole+" role; ask an administrator to grant it"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeUnauthenticated writes the 401 response for a request without
// credentials.
func writeUnauthenticated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	problem.Write(w, r, nil, problem.New(http.StatusUnauthorized, "authentication_required",
		"sign in at "+loginPath+" or send an API token in the Authorization header"))
}

// roleRule describes valid role names for API tokens, dev users and
// Options.AdminRole. Roles read from a provider's claim are not checked,
// because providers use other forms (Keycloak group paths contain '/').
const roleRule = "want 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', ':' and '-'"

// validRole reports whether role matches ^[A-Za-z0-9_.:-]{1,64}$.
func validRole(role string) bool {
	if len(role) == 0 || len(role) > 64 {
		return false
	}
	return strings.IndexFunc(role, func(r rune) bool {
		return !isASCIIAlnum(r) && !strings.ContainsRune("_.:-", r)
	}) < 0
}

func isASCIIAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}
