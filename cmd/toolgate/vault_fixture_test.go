package main

// Fixtures of the vault's end-to-end tests and benchmarks. Each setup runs
// the real command ("toolgate serve", "toolgate keys", "toolgate tokens") in
// the test process, oidc-provider from npm as the OAuth provider, and a
// counting reverse proxy in front of the provider's token endpoint. The
// helpers take testing.TB, so that benchmarks can use them too.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/postgres"
	"github.com/toolgate/toolgate/internal/store/sqlite"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/testpeers"
)

// Names shared by the vault fixtures. The OAuth client is Toolgate's
// registration at the provider, and the provider id is Toolgate's name for
// that provider.
const (
	vaultClientID     = "toolgate-vault"
	vaultClientSecret = "toolgate-vault-client-secret"
	vaultProviderID   = "corp"
)

// vaultAccounts are the accounts at the provider. Their ids match
// Toolgate's dev users, which keeps the tests readable, but nothing links
// the two.
var vaultAccounts = map[string]testpeers.User{
	"alice": {ID: "alice", Password: "alice-provider-pw"},
	"bob":   {ID: "bob", Password: "bob-provider-pw"},
}

// maxReplicaLogLines is how many of a replica's latest log lines are kept
// for a failure report.
const maxReplicaLogLines = 400

// replica is a "toolgate serve" running in the test process.
type replica struct {
	// URL is where the replica listens.
	URL string
	// Origin is the origin that browsers send to it. It is the external
	// URL, which the replicas of one setup share, as replicas behind one
	// load balancer do.
	Origin string

	log  *replicaLog
	stop func() int
}

// replicaLog keeps a replica's latest log lines and the address from its
// "toolgate listening" line. It is safe for concurrent use.
type replicaLog struct {
	mu      sync.Mutex
	addr    string
	lines   []string
	dropped int
}

// Write expects whole JSON records, because slog's handler writes one
// record per call.
func (l *replicaLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		if l.addr == "" {
			l.addr = listeningAddr(line)
		}
		if len(l.lines) == maxReplicaLogLines {
			l.lines = l.lines[1:]
			l.dropped++
		}
		l.lines = append(l.lines, line)
	}
	return len(p), nil
}

func (l *replicaLog) listening() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// logged reports whether a kept line has the message msg.
func (r *replica) logged(msg string) bool {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	for _, line := range r.log.lines {
		var record struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &record) == nil && record.Msg == msg {
			return true
		}
	}
	return false
}

func (l *replicaLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := strings.Join(l.lines, "\n")
	if l.dropped > 0 {
		out = "(" + strconv.Itoa(l.dropped) + " earlier lines dropped)\n" + out
	}
	return out
}

// startReplica runs "toolgate serve --listen listen args..." and waits until
// it listens. It stops when the test ends, and a failed test's log shows its
// latest log lines.
func startReplica(tb testing.TB, listen, origin string, args ...string) *replica {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &replicaLog{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", listen}, args...), io.Discard, log)
	}()

	r := &replica{Origin: origin, log: log}
	var once sync.Once
	var code int
	r.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	tb.Cleanup(func() {
		r.stop()
		if tb.Failed() {
			tb.Logf("log of toolgate serve on %s:\n%s", r.URL, log)
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if addr := log.listening(); addr != "" {
			r.URL = "http://" + addr
			if r.Origin == "" {
				r.Origin = r.URL
			}
			return r
		}
		select {
		case code := <-done:
			tb.Fatalf("toolgate serve exited with %d before listening:\n%s", code, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tb.Fatalf("toolgate serve did not listen within 20s:\n%s", log)
	return nil
}

// runToolgate runs a toolgate command in process and returns its standard
// output. It fails the test on a non-zero exit.
func runToolgate(tb testing.TB, args ...string) string {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		tb.Fatalf("toolgate %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// useNewEncryptionKey sets TOOLGATE_ENCRYPTION_KEYS to a key from "toolgate
// keys generate" for the rest of the test, so that replicas on one
// database share it and the test can read sealed rows. It returns the key.
func useNewEncryptionKey(tb testing.TB) string {
	tb.Helper()
	key := strings.TrimSpace(runToolgate(tb, "keys", "generate", "--id", "e2e"))
	tb.Setenv(encryptionKeysEnv, key)
	return key
}

// createWorkloadToken creates an API token with the workload role through
// "toolgate tokens create" and returns it.
func createWorkloadToken(tb testing.TB, database string) string {
	tb.Helper()
	out := runToolgate(tb, "tokens", "create", "--database", database,
		"--name", "vault e2e agent", "--user", "agent", "--roles", "workload")
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "tgat_") {
			return strings.TrimSpace(line)
		}
	}
	tb.Fatalf("tokens create printed no tgat_ token:\n%s", out)
	return ""
}

// browserClient returns a client that keeps cookies and does not follow
// redirects, as the consent tests need to see each one. Cookies ignore the
// port, so a session cookie from one replica also reaches the others on
// 127.0.0.1, as it would through one load balancer.
func browserClient(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn returns a browser client signed in on r as the dev user.
func signIn(tb testing.TB, r *replica, user string) *http.Client {
	tb.Helper()
	c := browserClient(tb)
	req, err := http.NewRequest(http.MethodPost, r.URL+"/auth/login", strings.NewReader(url.Values{"user": {user}}.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.Origin)
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		tb.Fatalf("dev sign-in as %s: got status %d", user, resp.StatusCode)
	}
	return c
}

// bearerTransport adds an API token to every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(req)
}

// apiClient returns a client that authenticates with the API token and
// keeps up to maxConns connections per replica alive. Its idle connections
// are closed when the test ends.
func apiClient(tb testing.TB, token string, maxConns int) *http.Client {
	tb.Helper()
	transport := &http.Transport{MaxIdleConns: 2 * maxConns, MaxIdleConnsPerHost: maxConns, IdleConnTimeout: time.Minute}
	tb.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: &bearerTransport{token: token, next: transport}, Timeout: time.Minute}
}

// request sends a request with a JSON body to r, from r's origin, and
// returns the status and body. It never fails the test on a status, so that
// it is safe in goroutines other than the test's.
func request(c *http.Client, r *replica, method, path, body string) (int, string, error) {
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.URL+path, reader)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", r.Origin)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustRequest is request, except that a transport error fails the test,
// so call it only from the test's goroutine.
func mustRequest(tb testing.TB, c *http.Client, r *replica, method, path, body string) (int, string) {
	tb.Helper()
	status, respBody, err := request(c, r, method, path, body)
	if err != nil {
		tb.Fatalf("%s %s%s: %v", method, r.URL, path, err)
	}
	return status, respBody
}

// handedToken is the 200 body of POST /api/v1/connectors/{id}/token.
type handedToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Scopes      []string  `json:"scopes"`
	Generation  int64     `json:"generation"`
}

const tokenPath = "/api/v1/connectors/" + vaultProviderID + "/token"

// forBob is the token request body of a workload acting for bob.
const forBob = `{"user_id":"bob"}`

// fetchToken requests a token from r and fails the test unless it gets
// one.
func fetchToken(tb testing.TB, c *http.Client, r *replica, body string) handedToken {
	tb.Helper()
	status, respBody := mustRequest(tb, c, r, http.MethodPost, tokenPath, body)
	if status != http.StatusOK {
		tb.Fatalf("POST %s on %s: got %d %s, want 200", tokenPath, r.URL, status, respBody)
	}
	var tok handedToken
	if err := json.Unmarshal([]byte(respBody), &tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("POST %s: got body %s, want an access token (%v)", tokenPath, respBody, err)
	}
	return tok
}

// tokenOutcome describes a response of the token route for a failure
// message, leaving out the access token of a 200.
func tokenOutcome(status int, body string) string {
	if status == http.StatusOK {
		return "200 with an access token"
	}
	return strconv.Itoa(status) + " " + body
}

// connectionStatus returns the status field of GET .../status on r.
func connectionStatus(tb testing.TB, c *http.Client, r *replica) string {
	tb.Helper()
	path := "/api/v1/connectors/" + vaultProviderID + "/status"
	status, body := mustRequest(tb, c, r, http.MethodGet, path, "")
	if status != http.StatusOK {
		tb.Fatalf("GET %s on %s: got %d %s, want 200", path, r.URL, status, body)
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		tb.Fatalf("GET %s: decode %s: %v", path, body, err)
	}
	return st.Status
}

// tokenProxy is a reverse proxy in front of the provider's token endpoint
// that counts the requests by grant_type, so that a test can tell how
// often Toolgate refreshed. It is safe for concurrent use.
type tokenProxy struct {
	// TokenEndpoint is the proxy's URL for the provider's token endpoint.
	TokenEndpoint string

	mu     sync.Mutex
	grants map[string]int
}

// startTokenProxy serves a proxy for tokenEndpoint on a loopback port until
// the test ends.
func startTokenProxy(tb testing.TB, tokenEndpoint string) *tokenProxy {
	tb.Helper()
	target, err := url.Parse(tokenEndpoint)
	if err != nil {
		tb.Fatalf("parse token endpoint %q: %v", tokenEndpoint, err)
	}
	p := &tokenProxy{grants: map[string]int{}}
	forward := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		pr.Out.URL.Path = target.Path
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		form, _ := url.ParseQuery(string(body))
		p.mu.Lock()
		p.grants[form.Get("grant_type")]++
		p.mu.Unlock()

		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		forward.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.TokenEndpoint = srv.URL + target.Path
	return p
}

// count returns how many token requests with the grant type arrived.
func (p *tokenProxy) count(grantType string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[grantType]
}

// vaultRows reads the vault's rows straight from the database and opens
// them with the test's key, to see the refresh tokens that Toolgate never
// hands out.
type vaultRows struct {
	st *store.Store
	kr *keyring.Keyring
}

func openVaultRows(tb testing.TB, database, keys string) *vaultRows {
	tb.Helper()
	kr, err := keyring.Parse(keys)
	if err != nil {
		tb.Fatalf("parse the test's encryption key: %v", err)
	}
	var st *store.Store
	if strings.HasPrefix(database, "postgres://") {
		st, err = postgres.Open(context.Background(), database)
	} else {
		st, err = sqlite.Open(context.Background(), database)
	}
	if err != nil {
		tb.Fatalf("open the database to read token rows: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return &vaultRows{st: st, kr: kr}
}

// row returns the user's token row, or nil when there is none.
func (v *vaultRows) row(tb testing.TB, userID string) *store.TokenRecord {
	tb.Helper()
	rec, err := v.st.GetToken(context.Background(), userID, vaultProviderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		tb.Fatalf("read the token row of %s: %v", userID, err)
	}
	return rec
}

// refreshToken returns the user's stored refresh token in plain text.
func (v *vaultRows) refreshToken(tb testing.TB, userID string) string {
	tb.Helper()
	rec := v.row(tb, userID)
	if rec == nil || rec.RefreshToken == "" {
		tb.Fatalf("no stored refresh token for %s", userID)
	}
	plain, err := v.kr.Open(rec.RefreshToken, store.TokenRefreshAAD(userID, vaultProviderID))
	if err != nil {
		tb.Fatalf("open the refresh token of %s: %v", userID, err)
	}
	return string(plain)
}

// vaultSetupOptions selects what startVaultSetup runs.
type vaultSetupOptions struct {
	// Postgres runs on a new PostgreSQL database, and skips the test when
	// TOOLGATE_TEST_POSTGRES_URL is unset. False means a SQLite file.
	Postgres bool
	// Replicas is the number of "toolgate serve" processes on the
	// database. Zero means one. Only PostgreSQL supports several.
	Replicas int
	// AccessTokenTTL is the provider's access token lifetime, in whole
	// seconds. Zero means one hour.
	AccessTokenTTL time.Duration
	// CountRefreshes registers the provider with explicit metadata whose
	// token endpoint is the counting proxy. False registers it by its
	// discovery URL, so that Toolgate talks to the provider directly.
	CountRefreshes bool
}

// vaultSetup is Toolgate with a provider registered, ready for consents.
type vaultSetup struct {
	database string
	// replicas[0] listens on the external URL of every replica, which is
	// also the host of the redirect URI registered at the provider.
	replicas []*replica
	idp      *testpeers.IDP
	proxy    *tokenProxy
	rows     *vaultRows
	// workload is an API token with the workload role.
	workload string
}

// startVaultSetup starts the provider, the token proxy and Toolgate's
// replicas, and registers the provider as alice, an admin.
func startVaultSetup(tb testing.TB, opts vaultSetupOptions) *vaultSetup {
	tb.Helper()
	testpeers.EnsureInstalled(tb)
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Replicas > 1 && !opts.Postgres {
		tb.Fatal("several replicas need PostgreSQL, because the SQLite store sends no cache invalidations between replicas")
	}

	s := &vaultSetup{}
	if opts.Postgres {
		s.database = storetest.NewMigratedPostgresURL(tb)
	} else {
		s.database = filepath.Join(tb.TempDir(), "toolgate.db")
	}
	keys := useNewEncryptionKey(tb)
	s.workload = createWorkloadToken(tb, s.database)

	port := pickLoopbackPort(tb)
	external := "http://127.0.0.1:" + strconv.Itoa(port)
	users := make([]testpeers.User, 0, len(vaultAccounts))
	for _, u := range vaultAccounts {
		users = append(users, u)
	}
	s.idp = testpeers.StartIDP(tb, testpeers.IDPConfig{
		Clients: []testpeers.Client{{
			ID: vaultClientID, Secret: vaultClientSecret,
			RedirectURIs: []string{external + "/oauth/callback"},
		}},
		Users:          users,
		AccessTokenTTL: opts.AccessTokenTTL,
	})
	s.proxy = startTokenProxy(tb, s.idp.TokenEndpoint)

	args := []string{"--database", s.database, "--external-url", external, "--auth", "dev", "--dev-users", "alice:admin,bob"}
	// The address of the first replica is known before it starts: the
	// provider needs its redirect URI. The others take any free port.
	for i := 0; i < opts.Replicas; i++ {
		listen := "127.0.0.1:0"
		if i == 0 {
			listen = "127.0.0.1:" + strconv.Itoa(port)
		}
		s.replicas = append(s.replicas, startReplica(tb, listen, external, args...))
	}
	s.rows = openVaultRows(tb, s.database, keys)
	s.registerProvider(tb, opts.CountRefreshes)
	return s
}

// registerProvider registers the provider as alice on the first replica.
func (s *vaultSetup) registerProvider(tb testing.TB, throughProxy bool) {
	tb.Helper()
	spec := map[string]any{
		"id": vaultProviderID, "display_name": "Corp", "type": "custom",
		"client_id": vaultClientID, "client_secret": vaultClientSecret,
		"scopes": []string{"openid", "profile"},
	}
	if throughProxy {
		spec["authorization_server_metadata"] = map[string]any{
			"issuer":                                s.idp.Issuer,
			"authorization_endpoint":                s.idp.AuthorizationEndpoint,
			"token_endpoint":                        s.proxy.TokenEndpoint,
			"revocation_endpoint":                   s.idp.RevocationEndpoint,
			"introspection_endpoint":                s.idp.IntrospectionEndpoint,
			"userinfo_endpoint":                     s.idp.UserinfoEndpoint,
			"code_challenge_methods_supported":      []string{"S256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		}
	} else {
		spec["discovery_url"] = s.idp.Issuer + "/.well-known/openid-configuration"
	}
	body, err := json.Marshal(spec)
	if err != nil {
		tb.Fatal(err)
	}
	a := s.replicas[0]
	alice := signIn(tb, a, "alice")
	if status, resp := mustRequest(tb, alice, a, http.MethodPost, "/api/v1/admin/providers", string(body)); status != http.StatusCreated {
		tb.Fatalf("register the provider: got %d %s, want 201", status, resp)
	}
}

// connect runs a consent of the dev user as a browser signed in as that
// user would. It starts the consent on startAt and opens the authorization
// URL on connectAt, because a load balancer may send that request to any
// replica. It then signs in and approves at the provider, and delivers the
// callback to the external URL, the only redirect URI registered at the
// provider. It returns the consent id once the consent reports completed.
func (s *vaultSetup) connect(tb testing.TB, browser *http.Client, startAt, connectAt *replica, user string) string {
	tb.Helper()
	account := vaultAccounts[user]

	status, body := mustRequest(tb, browser, startAt, http.MethodPost, "/api/v1/connectors/"+vaultProviderID+"/consent", "{}")
	if status != http.StatusOK {
		tb.Fatalf("start consent on %s: got %d %s, want 200", startAt.URL, status, body)
	}
	var started struct {
		ConsentID        string `json:"consent_id"`
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := json.Unmarshal([]byte(body), &started); err != nil || started.AuthorizationURL == "" {
		tb.Fatalf("start consent: got %s, want a consent id and an authorization URL (%v)", body, err)
	}
	if want := startAt.Origin + "/connect/"; !strings.HasPrefix(started.AuthorizationURL, want) {
		tb.Fatalf("authorization_url: got %s, want it under %s", started.AuthorizationURL, want)
	}

	connectURL := connectAt.URL + strings.TrimPrefix(started.AuthorizationURL, startAt.Origin)
	resp, err := browser.Get(connectURL)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	authorize, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		tb.Fatalf("GET %s: got status %d, want 303 to the provider", connectURL, resp.StatusCode)
	}
	if !strings.HasPrefix(authorize.String(), s.idp.AuthorizationEndpoint) {
		tb.Fatalf("GET %s: redirect to %s, want the provider's authorization endpoint %s", connectURL, authorize, s.idp.AuthorizationEndpoint)
	}

	callback := s.idp.Login(tb, browser, authorize.String(), account.ID, account.Password, true)
	if want := startAt.Origin + "/oauth/callback"; !strings.HasPrefix(callback.String(), want) {
		tb.Fatalf("the provider redirected to %s%s, want %s", callback.Host, callback.Path, want)
	}
	resp, err = browser.Get(callback.String())
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("GET the callback %s%s: got status %d, want 303 to the consent's outcome", callback.Host, callback.Path, resp.StatusCode)
	}

	status, body = mustRequest(tb, browser, startAt, http.MethodGet, "/api/v1/consents/"+started.ConsentID, "")
	if status != http.StatusOK || !strings.Contains(body, `"status":"completed"`) {
		tb.Fatalf("consent %s after the callback: got %d %s, want status completed", started.ConsentID, status, body)
	}
	return started.ConsentID
}

// userinfoStatus calls the provider's userinfo endpoint with the access
// token and returns the HTTP status and the subject it names.
func userinfoStatus(tb testing.TB, idp *testpeers.IDP, accessToken string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, idp.UserinfoEndpoint, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var claims struct {
		Sub string `json:"sub"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&claims)
	return resp.StatusCode, claims.Sub
}

// active reports whether the provider's introspection endpoint calls the
// token active.
func (s *vaultSetup) active(tb testing.TB, token string) bool {
	tb.Helper()
	return s.idp.Introspect(tb, vaultClientID, vaultClientSecret, token)
}

// dropListeners ends every session of the database that LISTENs, as a
// network failure or a database failover would, and returns how many it
// ended. The replicas' listeners then reconnect after their backoff.
func dropListeners(tb testing.TB, database string) int {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, database)
	if err != nil {
		tb.Fatalf("connect to end the listeners: %v", err)
	}
	defer conn.Close(ctx)
	var ended int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`).Scan(&ended)
	if err != nil {
		tb.Fatalf("end the listeners: %v", err)
	}
	return ended
}

// pickLoopbackPort is freeLoopbackPort for benchmarks too.
func pickLoopbackPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stampedeSize is the number of concurrent token requests in a stampede.
const stampedeSize = 200

// stampedeResult is the outcome of one token request of a stampede.
type stampedeResult struct {
	replica int
	status  int
	body    string
	token   handedToken
	err     error
}

// stampede sends n token requests with body at once, spread evenly over
// the replicas, and returns their outcomes in request order. The requests
// start together once every goroutine is ready.
func stampede(c *http.Client, replicas []*replica, n int, body string) []stampedeResult {
	results := make([]stampedeResult, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			res := &results[i]
			res.replica = i % len(replicas)
			ready.Done()
			<-start

			res.status, res.body, res.err = request(c, replicas[res.replica], http.MethodPost, tokenPath, body)
			if res.err == nil && res.status == http.StatusOK {
				res.err = json.Unmarshal([]byte(res.body), &res.token)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return results
}
