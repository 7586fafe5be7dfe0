package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// forEachStore runs fn against a fresh SQLite store, and against a fresh
// PostgreSQL store when TOOLGATE_TEST_POSTGRES_URL is set.
func forEachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}

func newKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	key, err := keyring.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a Toolgate test server: the Authenticator's routes plus a few
// protected handlers, all behind its Middleware.
type env struct {
	st       *store.Store
	auth     *authn.Authenticator
	keyring  *keyring.Keyring
	URL      string
	clock    *testClock
	provider *testProvider // nil in dev mode
	registry *prometheus.Registry
	logs     *logBuffer
}

// logBuffer collects the Authenticator's log output, so that tests can check
// that no secret reaches it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkLogsOmit fails the test when the log contains any of secrets.
func (e *env) checkLogsOmit(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("log contains a secret %.8s…: %s", s, logs)
		}
	}
}

// whoami is the JSON body of GET /whoami.
type whoami struct {
	UserID     string
	Name       string
	Email      string
	Roles      []string
	Method     string
	CSRFToken  string
	APITokenID string
	IsAdmin    bool
}

// newEnv starts a Toolgate test server with opts (Mode, and anything the test
// sets). It fills ExternalURL, Now and the Registerer, and in ModeOIDC starts
// a test provider and points Issuer, ClientID and ClientSecret at it.
func newEnv(t *testing.T, st *store.Store, opts authn.Options) *env {
	t.Helper()
	e := &env{st: st, clock: newTestClock(), registry: prometheus.NewRegistry(), logs: &logBuffer{}}

	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.URL = srv.URL

	ext, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	opts.ExternalURL = ext
	opts.Now = e.clock.Now
	opts.Registerer = e.registry
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Mode == authn.ModeOIDC {
		e.provider = startProvider(t, srv.URL)
		opts.Issuer, opts.ClientID, opts.ClientSecret = e.provider.Issuer, webClientID, webClientSecret
	}
	e.keyring = newKeyring(t)
	e.auth, err = authn.New(context.Background(), st, e.keyring, &opts)
	if err != nil {
		t.Fatalf("authn.New: %v", err)
	}

	mux := http.NewServeMux()
	e.auth.Routes(mux)
	mux.Handle("GET /whoami", authn.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := authn.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(whoami{
			UserID: id.UserID, Name: id.Name, Email: id.Email, Roles: id.Roles, Method: id.Method,
			CSRFToken: id.CSRFToken, APITokenID: id.APITokenID, IsAdmin: id.IsAdmin(),
		})
	})))
	mux.Handle("POST /action", authn.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "action done")
	})))
	mux.Handle("GET /admin", e.auth.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "admin page")
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "home page") })
	handler = e.auth.Middleware(mux)
	return e
}

// browser returns an HTTP client with its own cookie jar that follows
// redirects, as a browser would.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// do sends a request built from method, URL, body and headers with client
// and returns the response with its body read.
func do(t *testing.T, client *http.Client, method, rawURL string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// whoamiOf returns GET /whoami for client, failing the test unless it is 200.
func (e *env) whoamiOf(t *testing.T, client *http.Client, header http.Header) whoami {
	t.Helper()
	resp, body := do(t, client, http.MethodGet, e.URL+"/whoami", nil, header)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /whoami: status %d, want 200; body %s", resp.StatusCode, body)
	}
	var w whoami
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("decode /whoami: %v", err)
	}
	return w
}

// sessionCookie returns the session cookie the client's jar holds for the
// Toolgate server, or "" when there is none.
func (e *env) sessionCookie(client *http.Client) string {
	u, _ := url.Parse(e.URL)
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == "toolgate_session" {
			return c.Value
		}
	}
	return ""
}

// countRows returns the number of rows in table.
func countRows(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// sameOrigin is the header a browser adds to a same-origin fetch or form post.
var sameOrigin = http.Header{"Sec-Fetch-Site": {"same-origin"}}

func headerWith(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode JSON response: %v", err)
	}
}

// problemBody is the part of a problem+json body the tests check.
type problemBody struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// decodeProblem parses a problem+json body, failing the test when the
// response is not one.
func decodeProblem(t *testing.T, resp *http.Response, body string) problemBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, body)
	}
	var p problemBody
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	return p
}

// counter returns the value of the counter called name with labels from the
// env's registry, or 0 when it has not been counted.
func (e *env) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// signIns returns the sign-in counter for method and result.
func (e *env) signIns(t *testing.T, method, result string) float64 {
	t.Helper()
	return e.counter(t, "toolgate_authn_sign_ins_total", map[string]string{"method": method, "result": result})
}
