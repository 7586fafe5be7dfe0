package httpapi

import (
	"net/http"

	"github.com/toolgate/toolgate/internal/authn"
)

// meView is the body of GET /api/v1/me.
type meView struct {
	UserID string   `json:"user_id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Roles  []string `json:"roles"`
	Admin  bool     `json:"admin"`
	// Method is the authentication method of the request: session,
	// api_token or jwt.
	Method string `json:"method"`
	// CSRFToken is the session's token for the X-CSRF-Token header; empty
	// unless Method is session.
	CSRFToken string `json:"csrf_token"`
}

// routeMe registers GET /api/v1/me, which every signed-in caller may
// read. It needs no component, so every server has it.
func (s *Server) routeMe() {
	s.route("GET /api/v1/me", authn.RequireUser(s.handle(s.me)))
}

// me serves GET /api/v1/me: the caller's identity and, for a browser
// session, its CSRF token. The response is not cacheable, like every
// writeJSON response, because it carries the token.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	roles := id.Roles
	if roles == nil {
		roles = []string{}
	}
	return writeJSON(w, http.StatusOK, meView{
		UserID: id.UserID, Name: id.Name, Email: id.Email, Roles: roles, Admin: id.IsAdmin(),
		Method: id.Method, CSRFToken: id.CSRFToken,
	})
}
