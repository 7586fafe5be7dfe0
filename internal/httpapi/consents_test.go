package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/consent/consenttest"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// testUserHeader names the signed-in user for fakeSession. Absent means
// an anonymous browser.
const testUserHeader = "X-Test-User"

const consentExternalURL = "https://toolgate.example.com"

// fakeSession replaces authn's middleware in these tests. It reads the
// signed-in user from a header where the middleware reads the session
// cookie.
func fakeSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user := r.Header.Get(testUserHeader); user != "" {
			id := &authn.Identity{UserID: user, Email: user + "@example.com", Method: authn.MethodSession}
			r = r.WithContext(authn.WithIdentity(r.Context(), id))
		}
		next.ServeHTTP(w, r)
	})
}

// consentServer is a Server with the consent routes on a real store, a
// fake authorization server registered as the custom provider "acme", and
// an in-memory vault.
type consentServer struct {
	t     *testing.T
	srv   *httptest.Server
	st    *store.Store
	as    *consenttest.AuthServer
	vault *consenttest.Vault
	clock *consenttest.Clock
}

func newConsentServer(t *testing.T, st *store.Store) *consentServer {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	external, err := url.Parse(consentExternalURL)
	if err != nil {
		t.Fatal(err)
	}
	reg := provider.NewRegistry(st, kr, &provider.Options{ExternalURL: external})
	cs := &consentServer{
		t: t, st: st,
		as:    consenttest.NewAuthServer(t, reg.RedirectURI()),
		vault: consenttest.NewVault(),
		clock: consenttest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
	}
	_, err = reg.Create(context.Background(), provider.CreateInput{
		ID: "acme", DisplayName: "Acme Files", Type: provider.TypeCustom,
		ClientID: cs.as.ClientID, ClientSecret: provider.Secret(cs.as.ClientSecret),
		Scopes: []string{"files.read"}, AuthorizationServerMetadata: cs.as.Metadata(),
	})
	if err != nil {
		t.Fatalf("register provider: %v", err)
	}

	svc := consent.New(st, kr, reg, cs.vault, oauthclient.New(nil, nil), audit.New(st, nil), &consent.Options{
		ExternalURL:    external,
		AllowedOrigins: []string{"https://app.example.com"},
		Now:            cs.clock.Now,
	})
	cs.srv = httptest.NewServer(New(&Options{Authenticate: fakeSession, Consents: svc}).Handler())
	t.Cleanup(cs.srv.Close)
	return cs
}

// do sends a request as user ("" for anonymous) without following
// redirects and returns the response with its body. target is a path or
// a URL on the external URL, which is mapped to the test server.
func (cs *consentServer) do(user, method, target, body string) (*http.Response, string) {
	cs.t.Helper()
	target = strings.TrimPrefix(target, consentExternalURL)
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, cs.srv.URL+target, reader)
	if err != nil {
		cs.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set(testUserHeader, user)
	}
	client := cs.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		cs.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		cs.t.Fatal(err)
	}
	return resp, string(data)
}

// startResult is the JSON of a Start response.
type startResult struct {
	Connected        bool   `json:"connected"`
	ConsentID        string `json:"consent_id"`
	AuthorizationURL string `json:"authorization_url"`
	ExpiresAt        string `json:"expires_at"`
}

func (cs *consentServer) start(user, body string) startResult {
	cs.t.Helper()
	resp, data := cs.do(user, http.MethodPost, "/api/v1/connectors/acme/consent", body)
	requireStatus(cs.t, resp, []byte(data), http.StatusOK)
	var res startResult
	if err := json.Unmarshal([]byte(data), &res); err != nil {
		cs.t.Fatalf("decode start result %s: %v", data, err)
	}
	return res
}

// statusOf returns the consent's status JSON as user sees it.
func (cs *consentServer) statusOf(user, consentID string) map[string]string {
	cs.t.Helper()
	resp, data := cs.do(user, http.MethodGet, "/api/v1/consents/"+consentID, "")
	requireStatus(cs.t, resp, []byte(data), http.StatusOK)
	var st map[string]string
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		cs.t.Fatalf("decode status %s: %v", data, err)
	}
	return st
}

// toProvider opens /connect/{consentID} as user, requires the redirect to
// the provider, and returns the provider's authorization response.
func (cs *consentServer) toProvider(user, consentID string) url.Values {
	cs.t.Helper()
	resp, body := cs.do(user, http.MethodGet, "/connect/"+consentID, "")
	if resp.StatusCode != http.StatusSeeOther {
		cs.t.Fatalf("GET /connect as %s: got status %d, want 303; body %s", user, resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		cs.t.Errorf("/connect Cache-Control: got %q, want no-store", got)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		cs.t.Errorf("/connect Referrer-Policy: got %q, want no-referrer", got)
	}
	return cs.as.Authorize(cs.t, resp.Header.Get("Location"))
}

func requireHTMLPage(t *testing.T, resp *http.Response, body string, status int, want string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s %s: got status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType != "text/html" {
		t.Errorf("%s: content type %q, want text/html", resp.Request.URL.Path, resp.Header.Get("Content-Type"))
	}
	const csp = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
	if got := resp.Header.Get("Content-Security-Policy"); got != csp {
		t.Errorf("%s: CSP %q, want %q", resp.Request.URL.Path, got, csp)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", resp.Request.URL.Path, got)
	}
	if !strings.Contains(body, want) {
		t.Errorf("%s: page does not say %q:\n%s", resp.Request.URL.Path, want, body)
	}
}

// requireNoSecrets fails when body contains the authorization response's
// code or state.
func requireNoSecrets(t *testing.T, body string, query url.Values) {
	t.Helper()
	for _, name := range []string{"code", "state"} {
		if v := query.Get(name); v != "" && strings.Contains(body, v) {
			t.Errorf("page shows the %s", name)
		}
	}
}

func TestConsentRoutesFlow(t *testing.T) {
	forEachConsentStore(t, func(t *testing.T, st *store.Store) {
		cs := newConsentServer(t, st)

		res := cs.start("alice", "")
		if res.Connected || !strings.HasPrefix(res.ConsentID, "cns_") || res.ExpiresAt == "" {
			t.Fatalf("start: got %+v, want a pending consent", res)
		}
		if want := consentExternalURL + "/connect/" + res.ConsentID; res.AuthorizationURL != want {
			t.Errorf("authorization_url: got %q, want %q", res.AuthorizationURL, want)
		}
		if again := cs.start("alice", `{}`); again.ConsentID != res.ConsentID {
			t.Errorf("second start: got consent %q, want %q", again.ConsentID, res.ConsentID)
		}

		// An anonymous browser is sent through sign-in and back.
		resp, body := cs.do("", http.MethodGet, "/connect/"+res.ConsentID, "")
		if want := "/auth/login?return_to=%2Fconnect%2F" + res.ConsentID; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("anonymous /connect: got %d Location %q, want 303 to %q; body %s", resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
		// Another user gets 403 and changes nothing.
		before, err := st.GetConsent(context.Background(), res.ConsentID)
		if err != nil {
			t.Fatal(err)
		}
		resp, body = cs.do("bob", http.MethodGet, "/connect/"+res.ConsentID, "")
		requireHTMLPage(t, resp, body, http.StatusForbidden, "signed in as bob@example.com")
		if after, _ := st.GetConsent(context.Background(), res.ConsentID); after.StateHash != before.StateHash {
			t.Errorf("bob's /connect changed the state hash")
		}

		query := cs.toProvider("alice", res.ConsentID)
		callback := "/oauth/callback?" + query.Encode()

		resp, body = cs.do("bob", http.MethodGet, callback, "")
		requireHTMLPage(t, resp, body, http.StatusForbidden, "Nothing was changed")
		requireNoSecrets(t, body, query)
		resp, _ = cs.do("", http.MethodGet, callback, "")
		if want := "/auth/login?return_to=" + url.QueryEscape(callback); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("anonymous callback: got %d Location %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		if got := cs.as.TokenRequests(); got != 0 {
			t.Fatalf("token requests before alice's callback: got %d, want 0", got)
		}

		resp, body = cs.do("alice", http.MethodGet, callback, "")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("alice's callback: got status %d, want 303; body %s", resp.StatusCode, body)
		}
		complete := resp.Header.Get("Location")
		if want := consentExternalURL + "/oauth-complete?consent_id=" + res.ConsentID + "&provider_id=acme&status=success"; complete != want {
			t.Errorf("callback redirect: got %q, want %q", complete, want)
		}
		resp, body = cs.do("alice", http.MethodGet, complete, "")
		requireHTMLPage(t, resp, body, http.StatusOK, "Your Acme Files account is connected.")

		resp, body = cs.do("alice", http.MethodGet, callback, "")
		requireHTMLPage(t, resp, body, http.StatusConflict, "already used")
		requireNoSecrets(t, body, query)
		if got := cs.as.TokenRequests(); got != 1 {
			t.Errorf("token requests: got %d, want 1", got)
		}

		if st := cs.statusOf("alice", res.ConsentID); st["status"] != "completed" || st["provider_id"] != "acme" {
			t.Errorf("status: got %v, want completed for acme", st)
		}
		if again := cs.start("alice", ""); !again.Connected {
			t.Errorf("start after completion: got %+v, want connected", again)
		}
	})
}

func TestConsentRoutesAccessDenied(t *testing.T) {
	forEachConsentStore(t, func(t *testing.T, st *store.Store) {
		cs := newConsentServer(t, st)
		res := cs.start("alice", "")
		cs.as.Deny("access_denied")
		query := cs.toProvider("alice", res.ConsentID)

		resp, body := cs.do("alice", http.MethodGet, "/oauth/callback?"+query.Encode(), "")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("callback: got status %d, want 303; body %s", resp.StatusCode, body)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path != "/oauth-complete" || loc.Query().Get("status") != "error" || loc.Query().Get("error") != "access_denied" {
			t.Fatalf("callback redirect: got %s, want /oauth-complete with status=error and error=access_denied", loc)
		}
		resp, body = cs.do("alice", http.MethodGet, loc.String(), "")
		requireHTMLPage(t, resp, body, http.StatusOK, "You declined access to Acme Files")

		// No loop: /connect does not send the browser to the provider again.
		resp, body = cs.do("alice", http.MethodGet, "/connect/"+res.ConsentID, "")
		requireHTMLPage(t, resp, body, http.StatusConflict, "already finished")
		if st := cs.statusOf("alice", res.ConsentID); st["status"] != "failed" || st["error"] != "access_denied" {
			t.Errorf("status: got %v, want failed with access_denied", st)
		}
	})
}

func TestConsentRoutesExpired(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	res := cs.start("alice", "")
	query := cs.toProvider("alice", res.ConsentID)
	cs.clock.Advance(11 * time.Minute)

	resp, body := cs.do("alice", http.MethodGet, "/oauth/callback?"+query.Encode(), "")
	requireHTMLPage(t, resp, body, http.StatusGone, "expired")
	if got := cs.as.TokenRequests(); got != 0 {
		t.Errorf("token requests: got %d, want 0", got)
	}
	resp, body = cs.do("alice", http.MethodGet, "/connect/"+res.ConsentID, "")
	requireHTMLPage(t, resp, body, http.StatusGone, "expired")
	if st := cs.statusOf("alice", res.ConsentID); st["status"] != "expired" {
		t.Errorf("status: got %v, want expired", st)
	}
}

func TestConsentRoutesUnknownLinks(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	resp, body := cs.do("alice", http.MethodGet, "/connect/cns_AAAAAAAAAAAAAAAAAAAAAA", "")
	requireHTMLPage(t, resp, body, http.StatusNotFound, "not valid")
	resp, body = cs.do("alice", http.MethodGet, "/oauth/callback?state=forged&code=x", "")
	requireHTMLPage(t, resp, body, http.StatusBadRequest, "not valid")

	for _, path := range []string{"/connect/cns_AAAAAAAAAAAAAAAAAAAAAA", "/oauth/callback?state=x"} {
		resp, _ = cs.do("alice", http.MethodHead, path, "")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s: got status %d, want 405", path, resp.StatusCode)
		}
	}

	long := "/oauth/callback?state=s&code=" + strings.Repeat("c", 2100)
	resp, body = cs.do("", http.MethodGet, long, "")
	requireHTMLPage(t, resp, body, http.StatusUnauthorized, "Sign in to Toolgate")
}

func TestConsentAPIRequiresIdentity(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/connectors/acme/consent"},
		{http.MethodGet, "/api/v1/consents/cns_AAAAAAAAAAAAAAAAAAAAAA"},
	} {
		resp, body := cs.do("", r.method, r.path, "")
		requireStatus(t, resp, []byte(body), http.StatusUnauthorized)
		if p := decodeProblem(t, resp, []byte(body)); p.Code != "authentication_required" {
			t.Errorf("%s %s: got code %q, want authentication_required", r.method, r.path, p.Code)
		}
	}
}

func TestConsentStatusOwnerOnly(t *testing.T) {
	forEachConsentStore(t, func(t *testing.T, st *store.Store) {
		cs := newConsentServer(t, st)
		res := cs.start("alice", "")

		if got := cs.statusOf("alice", res.ConsentID); got["status"] != "pending" || got["provider_id"] != "acme" {
			t.Errorf("alice's status: got %v, want pending for acme", got)
		}
		for _, c := range []struct{ user, id string }{{"bob", res.ConsentID}, {"alice", "cns_unknown"}} {
			resp, body := cs.do(c.user, http.MethodGet, "/api/v1/consents/"+c.id, "")
			requireStatus(t, resp, []byte(body), http.StatusNotFound)
			if p := decodeProblem(t, resp, []byte(body)); p.Code != "not_found" {
				t.Errorf("%s's status of %s: got code %q, want not_found", c.user, c.id, p.Code)
			}
		}
	})
}

func TestConsentStartInput(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	cases := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"foreign origin", `{"return_url": "https://evil.example.net/done"}`, 400, "return_url"},
		{"user info", `{"return_url": "https://app.example.com@evil.example.net/"}`, 400, "return_url"},
		{"javascript", `{"return_url": "javascript:alert(document.cookie)"}`, 400, "return_url"},
		{"relative", `{"return_url": "/done"}`, 400, "return_url"},
		{"fragment", `{"return_url": "https://app.example.com/done#frag"}`, 400, "return_url"},
		{"bad scope", `{"scopes": ["a b"]}`, 400, "scopes[0]"},
		{"unknown field", `{"redirect": "x"}`, 400, "redirect"},
		{"wrong type", `{"force": "yes"}`, 400, "force"},
		{"allowed origin", `{"return_url": "https://app.example.com/done"}`, 200, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := "user-" + string(rune('a'+i))
			resp, body := cs.do(user, http.MethodPost, "/api/v1/connectors/acme/consent", tc.body)
			requireStatus(t, resp, []byte(body), tc.status)
			if tc.status == http.StatusOK {
				return
			}
			p := decodeProblem(t, resp, []byte(body))
			if len(p.Errors) != 1 || p.Errors[0].Field != tc.field || p.Errors[0].Detail == "" {
				t.Errorf("errors: got %+v, want one naming %s with a detail", p.Errors, tc.field)
			}
			if !strings.Contains(p.Detail, tc.field) {
				t.Errorf("detail %q does not name %s", p.Detail, tc.field)
			}
		})
	}

	resp, body := cs.do("alice", http.MethodPost, "/api/v1/connectors/nope/consent", "")
	requireStatus(t, resp, []byte(body), http.StatusNotFound)
}

func TestOAuthCompletePage(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	cases := []struct {
		name   string
		query  string
		want   []string
		absent []string
	}{
		{
			name:  "success",
			query: "provider_id=acme&status=success",
			want: []string{"Connected", `data-status="success"`, `data-provider-id="acme"`, `role="status"`,
				`<script type="module" src="/assets/oauth-complete.js"></script>`,
				`data-origins="https://toolgate.example.com https://app.example.com"`, `<a href="/">`},
		},
		{
			name:  "declined",
			query: "provider_id=acme&status=error&error=access_denied",
			want:  []string{"Not connected", "You declined access to the provider", `data-error="access_denied"`, `role="alert"`},
		},
		{
			name:   "hostile values",
			query:  "provider_id=%3Cscript%3E&status=%3Cb%3E&error=%3Cimg+src%3Dx%3E&consent_id=%22%3E%3Cscript%3E",
			want:   []string{`data-status="error"`, `data-error="invalid_error"`, `data-provider-id=""`, `data-consent-id=""`},
			absent: []string{"<img", "<b>", `"><script>`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := cs.do("alice", http.MethodGet, "/oauth-complete?"+tc.query, "")
			requireHTMLPage(t, resp, body, http.StatusOK, tc.want[0])
			for _, want := range tc.want[1:] {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q:\n%s", bad, body)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("page has an inline script")
			}
		})
	}

	resp, body := cs.do("", http.MethodGet, completeScriptPath, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200", completeScriptPath, resp.StatusCode)
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType != "text/javascript" {
		t.Errorf("script content type: got %q, want text/javascript", resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`"toolgate-oauth"`, `"toolgate:oauth-complete"`, "new BroadcastChannel(CHANNEL)", "opener.postMessage(message, origin)"} {
		if !strings.Contains(body, want) {
			t.Errorf("script lacks %q", want)
		}
	}
}

// TestOAuthCompletePageTrustsStore checks that the page shows what the
// store records for the user's own consent, whatever the query claims.
func TestOAuthCompletePageTrustsStore(t *testing.T) {
	cs := newConsentServer(t, storetest.NewSQLite(t))
	res := cs.start("alice", "")
	cs.as.Deny("access_denied")
	query := cs.toProvider("alice", res.ConsentID)
	cs.do("alice", http.MethodGet, "/oauth/callback?"+query.Encode(), "")

	forged := "/oauth-complete?consent_id=" + res.ConsentID + "&provider_id=acme&status=success"
	resp, body := cs.do("alice", http.MethodGet, forged, "")
	requireHTMLPage(t, resp, body, http.StatusOK, "You declined access to Acme Files")
	if !strings.Contains(body, `data-status="error"`) || !strings.Contains(body, `data-consent-id="`+res.ConsentID+`"`) {
		t.Errorf("page data does not follow the store:\n%s", body)
	}
}

// forEachConsentStore runs fn against a fresh SQLite store and a fresh
// PostgreSQL database, which is skipped when TOOLGATE_TEST_POSTGRES_URL is
// unset.
func forEachConsentStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}
