package authn

import (
	"net/http"

	"github.com/toolgate/toolgate/internal/problem"
)

// Middleware resolves the caller of each request and stores the *Identity in
// the request context for FromContext:
//
//  1. A request with an Authorization header is authenticated by it alone,
//     and the session cookie is ignored. An invalid header or token gets 401
//     at once. Bearer requests are exempt from the CSRF check, because
//     browsers do not attach the header on their own.
//  2. Otherwise a valid session cookie gives the session's identity. A
//     request with an unsafe method must then pass checkCSRF, or it gets 403.
//  3. Otherwise the request passes through with no identity; RequireUser
//     and RequireAdmin reject it where a user is needed.
//
// A failing store lookup gets 500, so an outage does not pass as anonymous.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, present := r.Header["Authorization"]; present {
			id, berr := a.authenticateBearer(r)
			if berr != nil {
				a.writeBearerError(w, r, berr)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
			return
		}

		id, err := a.sessionIdentity(w, r)
		if err != nil {
			problem.Write(w, r, a.logger, problem.Internal(err))
			return
		}
		if id == nil {
			next.ServeHTTP(w, r)
			return
		}
		if err := a.checkCSRF(r, id.CSRFToken); err != nil {
			problem.Write(w, r, a.logger, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}
