package oauthclient_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
)

// Secrets the tests send. Each is long and distinct so that a leak into
// an error string is unmistakable.
const (
	testClientID     = "client:id with space"
	testClientSecret = "client-secret-value-0123456789"
	testCode         = "authorization-code-0123456789abcdef"
	testVerifier     = "pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG"
	testRefresh      = "refresh-token-0123456789abcdef"
	testAccess       = "access-token-0123456789abcdef"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recorded is one request the fake provider received.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
	Body   string
}

// fakeProvider is a loopback token and revocation endpoint whose responses
// each test sets with a handler.
type fakeProvider struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
}

// newFake starts a fake provider that records every request and then
// calls handle, which writes the response.
func newFake(t *testing.T, handle func(w http.ResponseWriter, r *recorded)) *fakeProvider {
	t.Helper()
	f := &fakeProvider{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			rec.Form, _ = url.ParseQuery(string(body))
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		handle(w, &rec)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// last returns the only request received, failing the test unless there
// was exactly one.
func (f *fakeProvider) only(t *testing.T) recorded {
	t.Helper()
	reqs := f.all()
	if len(reqs) != 1 {
		t.Fatalf("fake provider got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// config returns a provider configuration pointing at the fake, with
// client_secret_post and RFC 7009 revocation.
func (f *fakeProvider) config() *provider.Config {
	return &provider.Config{
		ProviderID:           "fake",
		Type:                 provider.TypeCustom,
		Enabled:              true,
		TokenEndpoint:        f.srv.URL + "/token",
		RevocationEndpoint:   f.srv.URL + "/revoke",
		RevocationStyle:      provider.RevocationRFC7009,
		RedirectURI:          "https://toolgate.example.com/oauth/callback",
		ClientID:             testClientID,
		ClientSecret:         testClientSecret,
		AuthMethod:           provider.AuthClientSecretPost,
		RevocationAuthMethod: provider.AuthClientSecretPost,
		ScopeSeparator:       " ",
	}
}

func newClient() *oauthclient.Client {
	return oauthclient.New(nil, &oauthclient.Options{Now: func() time.Time { return testNow }})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// requireError fails unless err is an *oauthclient.Error of kind with
// code, and returns it.
func requireError(t *testing.T, err error, kind oauthclient.Kind, code string) *oauthclient.Error {
	t.Helper()
	var e *oauthclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *oauthclient.Error", err, err)
	}
	if e.Kind != kind {
		t.Errorf("kind: got %s, want %s (%v)", e.Kind, kind, e)
	}
	if e.Code != code {
		t.Errorf("code: got %q, want %q (%v)", e.Code, code, e)
	}
	return e
}

// requireNoSecrets fails if text contains any value the tests treat as
// secret.
func requireNoSecrets(t *testing.T, text string, extra ...string) {
	t.Helper()
	for _, secret := range append([]string{testClientSecret, testCode, testVerifier, testRefresh, testAccess}, extra...) {
		if strings.Contains(text, secret) {
			t.Errorf("text %q contains the secret %q", text, secret)
		}
	}
}
