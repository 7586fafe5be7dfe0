package authn_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
)

func TestCSRF(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		const portal = "https://portal.example.test"
		e := newDevEnvWith(t, st, "alice", authn.Options{AllowedOrigins: []string{portal}})
		client := browser(t)
		e.signInDev(t, client, "alice", "/")
		csrfToken := e.whoamiOf(t, client, nil).CSRFToken
		if csrfToken == "" {
			t.Fatal("session has no CSRF token")
		}
		apiToken, _, err := e.auth.CreateAPIToken(t.Context(), "csrf test", "alice", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name   string
			method string
			header http.Header
			noJar  bool // send no session cookie
			want   int
		}{
			{"same-origin fetch", http.MethodPost, headerWith("Sec-Fetch-Site", "same-origin"), false, 200},
			{"user navigation", http.MethodPost, headerWith("Sec-Fetch-Site", "none"), false, 200},
			{"cross-site fetch", http.MethodPost, headerWith("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.test"), false, 403},
			{"same-site fetch from a sibling", http.MethodPost, headerWith("Sec-Fetch-Site", "same-site", "Origin", "https://sibling.example.test"), false, 403},
			{"matching Origin", http.MethodPost, headerWith("Origin", e.URL), false, 200},
			{"allowed Origin", http.MethodPost, headerWith("Origin", portal), false, 200},
			{"allowed Origin cross-site", http.MethodPost, headerWith("Sec-Fetch-Site", "cross-site", "Origin", portal), false, 200},
			{"foreign Origin", http.MethodPost, headerWith("Origin", "https://evil.example.test"), false, 403},
			{"null Origin", http.MethodPost, headerWith("Origin", "null"), false, 403},
			{"no headers and valid token", http.MethodPost, headerWith(authn.CSRFHeader, csrfToken), false, 200},
			{"no headers and wrong token", http.MethodPost, headerWith(authn.CSRFHeader, csrfToken[:len(csrfToken)-1]+"x"), false, 403},
			{"no headers", http.MethodPost, nil, false, 403},
			{"cross-site with valid token", http.MethodPost, headerWith("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.test", authn.CSRFHeader, csrfToken), false, 200},
			{"PUT with foreign Origin", http.MethodPut, headerWith("Origin", "https://evil.example.test"), false, 403},
			{"DELETE with no headers", http.MethodDelete, nil, false, 403},
			{"bearer with foreign Origin", http.MethodPost, headerWith("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.test", "Authorization", "Bearer "+apiToken), true, 200},
			{"GET cross-site", http.MethodGet, headerWith("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.test"), false, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := client
				if tt.noJar {
					c = http.DefaultClient
				}
				path := "/action"
				if tt.method == http.MethodGet {
					path = "/whoami"
				}
				resp, body := do(t, c, tt.method, e.URL+path, nil, tt.header)
				// PUT and DELETE have no route: passing the check gives 405.
				if tt.method == http.MethodPut || tt.method == http.MethodDelete {
					if tt.want == 403 && resp.StatusCode != 403 {
						t.Fatalf("status %d, want 403", resp.StatusCode)
					}
					return
				}
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.want, body)
				}
				if tt.want == 403 {
					p := decodeProblem(t, resp, body)
					if p.Code != "csrf_failed" || !strings.Contains(p.Detail, "X-CSRF-Token") || !strings.Contains(p.Detail, "GET /api/v1/me") {
						t.Errorf("problem = %+v, want csrf_failed with advice to send X-CSRF-Token from GET /api/v1/me", p)
					}
				}
			})
		}
	})
}
