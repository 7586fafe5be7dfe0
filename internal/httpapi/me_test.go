package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/authn"
)

func TestMe(t *testing.T) {
	// The identity comes from a test middleware, as authn.Middleware would
	// store it for a browser session.
	session := &authn.Identity{
		UserID: "alice", Name: "Alice", Email: "alice@example.test",
		Roles: []string{authn.DefaultAdminRole, "staff"}, Method: authn.MethodSession, CSRFToken: "csrf-of-alice",
	}
	srv := New(&Options{Authenticate: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Signed-In") != "" {
				r = r.WithContext(authn.WithIdentity(r.Context(), session))
			}
			next.ServeHTTP(w, r)
		})
	}})

	t.Run("anonymous", func(t *testing.T) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/me", nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("status: got %d, want 401", rec.Code)
		}
	})

	t.Run("session", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		req.Header.Set("X-Test-Signed-In", "1")
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status: got %d %s, want 200", rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store, because the body carries the CSRF token", got)
		}
		var got meView
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		if got.UserID != "alice" || got.Name != "Alice" || got.Email != "alice@example.test" {
			t.Errorf("user: got %+v, want alice's id, name and email", got)
		}
		if !got.Admin {
			t.Errorf("admin: got false, want true for the role %s", authn.DefaultAdminRole)
		}
		if !slices.Equal(got.Roles, session.Roles) {
			t.Errorf("roles: got %v, want %v", got.Roles, session.Roles)
		}
		if got.Method != authn.MethodSession || got.CSRFToken != "csrf-of-alice" {
			t.Errorf("method and token: got %q %q, want session and the session's token", got.Method, got.CSRFToken)
		}
	})
}
