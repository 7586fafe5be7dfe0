package vault_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

const (
	providerID   = "acme"
	clientID     = "toolgate-client"
	clientSecret = "acme-client-secret-0123456789"
)

var startTime = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// forEachStore runs fn against a fresh SQLite store and a fresh
// PostgreSQL database (skipped when TOOLGATE_TEST_POSTGRES_URL is unset).
func forEachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}

// clock is a settable time source shared by a test's vault, client and
// audit recorder.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// revokeCall is one request to the fake revocation endpoint.
type revokeCall struct {
	Token, Hint string
}

// fakeIdP is a loopback authorization server with rotating refresh
// tokens: each refresh token works once, so a second refresh with the
// same token fails with invalid_grant, as at providers that rotate.
type fakeIdP struct {
	srv *httptest.Server

	mu sync.Mutex
	// lifetime is the expires_in of issued tokens; zero omits it.
	lifetime time.Duration
	// rotate issues a new refresh token with each refresh.
	rotate bool
	// omitScope leaves scope out of refresh responses.
	omitScope bool
	// refreshStatus, when set, is the status of every refresh response,
	// with refreshBody as its JSON body.
	refreshStatus int
	refreshBody   string
	// refreshGate, when set, holds each refresh until it is closed.
	refreshGate chan struct{}
	// refreshDelay slows each refresh down.
	refreshDelay time.Duration
	// revoke writes the response to a revocation request; nil means 200.
	revoke func(call revokeCall) (status int, body string)

	validRefresh  map[string]bool
	issued        int
	refreshCalls  int
	revokeCalls   []revokeCall
	refreshArrive chan struct{}
}

func newFakeIdP(t testing.TB) *fakeIdP {
	t.Helper()
	f := &fakeIdP{lifetime: time.Hour, rotate: true, validRefresh: map[string]bool{}, refreshArrive: make(chan struct{}, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("client_id") != clientID || r.PostForm.Get("client_secret") != clientSecret {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
		return
	}
	switch r.URL.Path {
	case "/token":
		f.serveRefresh(w, r)
	case "/revoke":
		f.serveRevoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeIdP) serveRefresh(w http.ResponseWriter, r *http.Request) {
	if r.PostForm.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
		return
	}
	f.mu.Lock()
	f.refreshCalls++
	gate, delay := f.refreshGate, f.refreshDelay
	f.mu.Unlock()
	select {
	case f.refreshArrive <- struct{}{}:
	default:
	}
	if gate != nil {
		<-gate
	}
	time.Sleep(delay)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refreshStatus != 0 {
		writeJSON(w, f.refreshStatus, f.refreshBody)
		return
	}
	old := r.PostForm.Get("refresh_token")
	if !f.validRefresh[old] {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"refresh token already used"}`)
		return
	}
	f.issued++
	resp := map[string]any{"access_token": fmt.Sprintf("at-%d", f.issued), "token_type": "bearer"}
	if f.rotate {
		delete(f.validRefresh, old)
		next := fmt.Sprintf("rt-%d", f.issued)
		f.validRefresh[next] = true
		resp["refresh_token"] = next
	}
	if f.lifetime > 0 {
		resp["expires_in"] = int(f.lifetime / time.Second)
	}
	if !f.omitScope {
		resp["scope"] = "read write"
	}
	body, _ := json.Marshal(resp)
	writeJSON(w, http.StatusOK, string(body))
}

func (f *fakeIdP) serveRevoke(w http.ResponseWriter, r *http.Request) {
	call := revokeCall{Token: r.PostForm.Get("token"), Hint: r.PostForm.Get("token_type_hint")}
	f.mu.Lock()
	f.revokeCalls = append(f.revokeCalls, call)
	answer := f.revoke
	f.mu.Unlock()
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	status, body := answer(call)
	if body == "" {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (f *fakeIdP) refreshes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshCalls
}

func (f *fakeIdP) revocations() []revokeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]revokeCall(nil), f.revokeCalls...)
}

func (f *fakeIdP) set(fn func(f *fakeIdP)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// fixture is one replica: a vault with its registry, client and clock,
// on a store, talking to a fake provider.
type fixture struct {
	st     *store.Store
	kr     *keyring.Keyring
	reg    *provider.Registry
	vault  *vault.Vault
	clock  *clock
	idp    *fakeIdP
	client *oauthclient.Client
}

type fixtureOptions struct {
	kr    *keyring.Keyring
	clock *clock
	idp   *fakeIdP
	// skipCreate leaves the provider unregistered, for a second replica
	// on the same database.
	skipCreate bool
	vault      vault.Options
	// listen starts the cache invalidation listener and waits for it.
	listen bool
}

func newKeyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newFixture builds a replica on st. Unset options get a new keyring,
// clock and fake provider.
func newFixture(t testing.TB, st *store.Store, o fixtureOptions) *fixture {
	t.Helper()
	if o.kr == nil {
		o.kr = newKeyring(t)
	}
	if o.clock == nil {
		o.clock = &clock{now: startTime}
	}
	if o.idp == nil {
		o.idp = newFakeIdP(t)
	}
	external, _ := url.Parse("https://toolgate.example.com")
	reg := provider.NewRegistry(st, o.kr, &provider.Options{ExternalURL: external, Now: o.clock.Now})
	if !o.skipCreate {
		base := o.idp.srv.URL
		_, err := reg.Create(context.Background(), provider.CreateInput{
			ID: providerID, DisplayName: "Acme", Type: provider.TypeCustom, ClientID: clientID,
			ClientSecret: clientSecret, Scopes: []string{"read", "write"},
			AuthorizationServerMetadata: &provider.Metadata{
				Issuer: base, AuthorizationEndpoint: base + "/authorize", TokenEndpoint: base + "/token",
				RevocationEndpoint:                     base + "/revoke",
				TokenEndpointAuthMethodsSupported:      []string{"client_secret_post"},
				RevocationEndpointAuthMethodsSupported: []string{"client_secret_post"},
			},
		})
		if err != nil {
			t.Fatalf("create provider: %v", err)
		}
	}

	client := oauthclient.New(nil, &oauthclient.Options{Now: o.clock.Now, Timeout: 5 * time.Second})
	rec := audit.New(st, &audit.Options{Now: o.clock.Now})
	vo := o.vault
	if vo.Now == nil {
		vo.Now = o.clock.Now
	}
	if vo.Jitter == nil {
		vo.Jitter = func(time.Duration) time.Duration { return 0 }
	}
	v := vault.New(st, o.kr, reg, client, rec, &vo)
	f := &fixture{st: st, kr: o.kr, reg: reg, vault: v, clock: o.clock, idp: o.idp, client: client}

	if o.listen {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { v.RunCacheInvalidation(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		waitFor(t, "cache listener", v.CacheReady)
	}
	return f
}

// connect saves tokens at-0 and rt-0 for user, as a completed consent
// would, with the fake's lifetime, and makes rt-0 valid at the fake.
func (f *fixture) connect(t testing.TB, userID string, extras map[string]string) {
	t.Helper()
	f.idp.set(func(idp *fakeIdP) { idp.validRefresh["rt-0"] = true })
	resp := &oauthclient.TokenResponse{
		AccessToken: "at-0", RefreshToken: "rt-0", TokenType: "Bearer",
		Scopes: []string{"read", "write"}, Extras: extras,
	}
	if f.idp.lifetime > 0 {
		resp.ExpiresIn = f.idp.lifetime
		resp.ExpiresAt = f.clock.Now().Add(f.idp.lifetime)
	}
	if err := f.vault.Save(context.Background(), userID, providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatalf("save: %v", err)
	}
}

// requireConsent fails unless err is a *vault.ConsentRequiredError with
// reason, and returns it.
func requireConsent(t *testing.T, err error, reason string) *vault.ConsentRequiredError {
	t.Helper()
	var ce *vault.ConsentRequiredError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v, want a *vault.ConsentRequiredError", err)
	}
	if !errors.Is(err, vault.ErrConsentRequired) {
		t.Errorf("errors.Is(err, ErrConsentRequired) is false for %v", err)
	}
	if ce.Reason != reason {
		t.Errorf("reason: got %q, want %q (%v)", ce.Reason, reason, err)
	}
	return ce
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// auditActions returns the stored audit actions with outcome, newest
// first, as "action/outcome".
func auditActions(t testing.TB, st *store.Store, filter store.AuditFilter) []string {
	t.Helper()
	if filter.Limit == 0 {
		filter.Limit = 100
	}
	events, err := st.ListAudit(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Action+"/"+e.Outcome)
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
