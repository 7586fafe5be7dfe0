package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestSessionSlidingExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newDevEnv(t, st, "alice")
		client := browser(t)
		e.signInDev(t, client, "alice", "/")
		lastSeen := func() int64 {
			var v int64
			if err := st.DB().QueryRow(`SELECT last_seen_at FROM browser_sessions`).Scan(&v); err != nil {
				t.Fatalf("read last_seen_at: %v", err)
			}
			return v
		}
		signedIn := lastSeen()

		// Requests within a minute of the last write do not write.
		e.clock.Advance(30 * time.Second)
		e.whoamiOf(t, client, nil)
		if got := lastSeen(); got != signedIn {
			t.Errorf("last_seen_at after 30s = %d, want %d (no write)", got, signedIn)
		}
		e.clock.Advance(time.Minute)
		e.whoamiOf(t, client, nil)
		if got := lastSeen(); got <= signedIn {
			t.Errorf("last_seen_at after 90s = %d, want later than %d", got, signedIn)
		}

		// Use keeps the session alive past the first 12 hours.
		e.clock.Advance(11 * time.Hour)
		e.whoamiOf(t, client, nil)
		e.clock.Advance(11 * time.Hour)
		e.whoamiOf(t, client, nil)

		// Twelve idle hours end it.
		e.clock.Advance(12*time.Hour + time.Second)
		if resp, _ := do(t, client, http.MethodGet, e.URL+"/whoami", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /whoami after 12 idle hours: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestSessionExpiresWhenIdle(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newDevEnvWith(t, st, "alice", authn.Options{SessionTTL: time.Hour})
		client := browser(t)
		e.signInDev(t, client, "alice", "/")

		e.clock.Advance(time.Hour + time.Second)
		if resp, _ := do(t, client, http.MethodGet, e.URL+"/whoami", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /whoami an idle SessionTTL after sign-in: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		externalURL string
		wantName    string
		wantSecure  bool
	}{
		{"http://127.0.0.1:8080", "toolgate_session", false},
		{"https://toolgate.example.test", "__Host-toolgate_session", true},
	}
	for _, tt := range tests {
		t.Run(tt.externalURL, func(t *testing.T) {
			ext, _ := url.Parse(tt.externalURL)
			users, _ := authn.ParseDevUsers("alice")
			a, err := authn.New(context.Background(), storetest.NewSQLite(t), newKeyring(t), &authn.Options{
				Mode: authn.ModeDev, ExternalURL: ext, DevUsers: users,
			})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			a.Routes(mux)

			req := httptest.NewRequest(http.MethodPost, tt.externalURL+"/auth/login", strings.NewReader("user=alice"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)

			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("got %d cookies, want 1; status %d", len(cookies), rec.Code)
			}
			c := cookies[0]
			if c.Name != tt.wantName || c.Secure != tt.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("cookie %s: Secure %v, HttpOnly %v, SameSite %v, Path %q; want %s, Secure %v, HttpOnly, Lax, /",
					c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, tt.wantName, tt.wantSecure)
			}
			if c.MaxAge != int((12 * time.Hour).Seconds()) {
				t.Errorf("cookie MaxAge = %d, want 12 hours", c.MaxAge)
			}
		})
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	ext, _ := url.Parse("http://127.0.0.1:8080")
	withPath, _ := url.Parse("http://127.0.0.1:8080/toolgate")
	ftp, _ := url.Parse("ftp://127.0.0.1")
	users, _ := authn.ParseDevUsers("alice")
	dev := func(change func(*authn.Options)) *authn.Options {
		o := &authn.Options{Mode: authn.ModeDev, ExternalURL: ext, DevUsers: users}
		change(o)
		return o
	}
	tests := []struct {
		name    string
		opts    *authn.Options
		wantErr string
	}{
		{"nil options", nil, "options are required"},
		{"no mode", dev(func(o *authn.Options) { o.Mode = "" }), "mode"},
		{"unknown mode", dev(func(o *authn.Options) { o.Mode = "saml" }), "mode"},
		{"no external url", dev(func(o *authn.Options) { o.ExternalURL = nil }), "external url is required"},
		{"external url with path", dev(func(o *authn.Options) { o.ExternalURL = withPath }), "root of its origin"},
		{"external url scheme", dev(func(o *authn.Options) { o.ExternalURL = ftp }), "https://"},
		{"no dev users", dev(func(o *authn.Options) { o.DevUsers = nil }), "at least one dev user"},
		{"bad dev user", dev(func(o *authn.Options) { o.DevUsers = []authn.DevUser{{Name: "a b"}} }), "invalid"},
		{"oidc without issuer", dev(func(o *authn.Options) { o.Mode = authn.ModeOIDC; o.ClientID = "x" }), "issuer is required"},
		{"oidc without client id", dev(func(o *authn.Options) { o.Mode = authn.ModeOIDC; o.Issuer = "http://127.0.0.1:1" }), "client id is required"},
		{"short session ttl", dev(func(o *authn.Options) { o.SessionTTL = time.Minute }), "too short"},
		{"bad admin role", dev(func(o *authn.Options) { o.AdminRole = "admins!" }), "admin role"},
		{"bad roles claim", dev(func(o *authn.Options) { o.RolesClaim = "realm_access..roles" }), "roles claim"},
		{"bad allowed origin", dev(func(o *authn.Options) { o.AllowedOrigins = []string{"https://portal.example.test/app"} }), "allowed origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authn.New(context.Background(), storetest.NewSQLite(t), newKeyring(t), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "authn: ") {
				t.Errorf("New: err = %v, want an authn: error containing %q", err, tt.wantErr)
			}
		})
	}
}
