package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// server and the reads of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCommand runs toolgate with args in process and returns its exit code
// and output.
func runCommand(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// servedToolgate is a "toolgate serve" running in the test process.
type servedToolgate struct {
	URL  string
	logs *syncBuffer
	stop func() int
}

// startServe runs "toolgate serve" with args on a free loopback port and
// waits until it listens. The server stops when the test ends.
func startServe(t *testing.T, args ...string) *servedToolgate {
	t.Helper()
	return startServeOn(t, "127.0.0.1:0", args...)
}

// startServeOn is startServe on a given listen address.
func startServeOn(t *testing.T, listen string, args ...string) *servedToolgate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", listen}, args...), io.Discard, logs)
	}()

	s := &servedToolgate{logs: logs}
	var once sync.Once
	var code int
	s.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { s.stop() })

	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listeningAddr(logs.String()); addr != "" {
			s.URL = "http://" + addr
			return s
		}
		select {
		case code := <-done:
			t.Fatalf("toolgate serve exited with %d before listening:\n%s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("toolgate serve did not listen within 20s:\n%s", logs.String())
	return nil
}

// listeningAddr finds the address in the "toolgate listening" log line.
func listeningAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "toolgate listening" {
			return line.Addr
		}
	}
	return ""
}

// devClient returns a client signed in as a dev user of s.
func devClient(t *testing.T, s *servedToolgate, user string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/auth/login", strings.NewReader(url.Values{"user": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("dev sign-in as %s: got status %d, want a redirect", user, resp.StatusCode)
	}
	return c
}

// do sends a request with a JSON body from the server's own origin and
// returns the status and body.
func do(t *testing.T, c *http.Client, s *servedToolgate, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", s.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// primaryKeyID returns the id of the first key in a key file.
func primaryKeyID(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return strings.SplitN(line, ":", 2)[0]
		}
	}
	t.Fatalf("no key in %s", path)
	return ""
}

func TestServeDevAdminRoutes(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--database", filepath.Join(dir, "toolgate.db"), "--auth", "dev", "--dev-users", "alice:admin,bob")

	anonymous := &http.Client{}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := do(t, anonymous, s, http.MethodGet, path, ""); status != http.StatusOK {
			t.Errorf("GET %s: got %d %s, want 200", path, status, body)
		}
	}
	if status, _ := do(t, anonymous, s, http.MethodGet, "/api/v1/admin/providers", ""); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET providers: got %d, want 401", status)
	}
	bob := devClient(t, s, "bob")
	if status, _ := do(t, bob, s, http.MethodGet, "/api/v1/admin/providers", ""); status != http.StatusForbidden {
		t.Errorf("non-admin GET providers: got %d, want 403", status)
	}

	alice := devClient(t, s, "alice")
	const secret = "s3cr3t-client-secret-value"
	create := `{"id":"google","display_name":"Google","type":"google","client_id":"cid.apps","client_secret":"` + secret + `","scopes":["openid","email"]}`
	status, body := do(t, alice, s, http.MethodPost, "/api/v1/admin/providers", create)
	if status != http.StatusCreated {
		t.Fatalf("admin POST provider: got %d %s, want 201", status, body)
	}
	if strings.Contains(body, secret) {
		t.Errorf("create response contains the client secret")
	}
	if want := `"redirect_uri":"` + s.URL + `/oauth/callback"`; !strings.Contains(body, want) {
		t.Errorf("create response: got %s, want it to contain %s", body, want)
	}

	// The secret is encrypted at rest: neither the database file nor its
	// write-ahead log contains it.
	for _, name := range []string{"toolgate.db", "toolgate.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s contains the client secret in plain text", name)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "toolgate.key"))
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode: got %o, want 600", mode)
	}
	if !strings.Contains(s.logs.String(), "created encryption key file") {
		t.Errorf("no log line says where the key file was created")
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Errorf("the logs contain the client secret")
	}

	if code := s.stop(); code != 0 {
		t.Errorf("serve exit code after shutdown: got %d, want 0", code)
	}
	if !strings.Contains(s.logs.String(), "toolgate stopped") {
		t.Errorf("no clean shutdown in the logs:\n%s", s.logs.String())
	}
}

func TestKeysRotateThenRemoveOldKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "toolgate.db")
	keyFile := filepath.Join(dir, "toolgate.key")

	// Store a secret under the first key.
	s := startServe(t, "--database", db, "--auth", "dev", "--dev-users", "alice:admin")
	alice := devClient(t, s, "alice")
	create := `{"id":"corp","display_name":"Corp","type":"custom","client_id":"cid","client_secret":"rotate-me-secret",` +
		`"authorization_server_metadata":{"issuer":"http://127.0.0.1:9","authorization_endpoint":"http://127.0.0.1:9/authorize",` +
		`"token_endpoint":"http://127.0.0.1:9/token","code_challenge_methods_supported":["S256"]}}`
	if status, body := do(t, alice, s, http.MethodPost, "/api/v1/admin/providers", create); status != http.StatusCreated {
		t.Fatalf("create provider: got %d %s", status, body)
	}
	s.stop()
	oldID := primaryKeyID(t, keyFile)

	code, out, errOut := runCommand(t, nil, "keys", "rotate", "--database", db)
	if code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "re-encrypted 1 secrets") {
		t.Errorf("keys rotate output: got %q, want it to report 1 re-encrypted secret", out)
	}

	// Remove the old key: every secret still decrypts, and the server starts.
	code, out, errOut = runCommand(t, nil, "keys", "prune", "--database", db)
	if code != 0 || !strings.Contains(out, "removed key "+oldID) {
		t.Fatalf("keys prune: exit %d, output %q %s; want the old key %s removed", code, out, errOut, oldID)
	}
	newKeys, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(newKeys), oldID+":") {
		t.Fatalf("key file still holds the old key %s", oldID)
	}
	s = startServe(t, "--database", db, "--auth", "dev", "--dev-users", "alice:admin")
	alice = devClient(t, s, "alice")
	status, body := do(t, alice, s, http.MethodGet, "/api/v1/admin/providers/corp", "")
	if status != http.StatusOK || !strings.Contains(body, `"client_secret_set":true`) {
		t.Errorf("provider after rotation: got %d %s", status, body)
	}
}

func TestServeRefusesMissingKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "toolgate.db")
	s := startServe(t, "--database", db, "--auth", "dev", "--dev-users", "alice:admin")
	alice := devClient(t, s, "alice")
	create := `{"id":"gh","display_name":"GitHub","type":"github","client_id":"cid","client_secret":"x"}`
	if status, body := do(t, alice, s, http.MethodPost, "/api/v1/admin/providers", create); status != http.StatusCreated {
		t.Fatalf("create provider: got %d %s", status, body)
	}
	s.stop()
	oldID := primaryKeyID(t, filepath.Join(dir, "toolgate.key"))

	// Start with a different key in the environment: the server refuses and
	// names the key id it lacks.
	_, other, _ := runCommand(t, nil, "keys", "generate", "--id", "other")
	code, _, errOut := runCommand(t, map[string]string{encryptionKeysEnv: strings.TrimSpace(other)},
		"serve", "--listen", "127.0.0.1:0", "--database", db, "--auth", "dev", "--dev-users", "alice")
	if code != 1 {
		t.Errorf("serve with a missing key: got exit %d, want 1", code)
	}
	if !strings.Contains(errOut, oldID) || !strings.Contains(errOut, "not configured") {
		t.Errorf("serve with a missing key: got %q, want a message naming key id %s", errOut, oldID)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no auth", nil, []string{"serve", "--listen", "127.0.0.1:0"}, 2, "--auth is required"},
		{"bad auth", nil, []string{"serve", "--listen", "127.0.0.1:0", "--auth", "ldap"}, 2, `--auth "ldap": want oidc or dev`},
		{"env sets auth", map[string]string{"TOOLGATE_AUTH": "ldap"}, []string{"serve", "--listen", "127.0.0.1:0"}, 2, `--auth "ldap"`},
		{"flag wins over env", map[string]string{"TOOLGATE_AUTH": "dev"}, []string{"serve", "--listen", "127.0.0.1:0", "--auth", "ldap"}, 2, `--auth "ldap"`},
		{"dev on all interfaces", nil, []string{"serve", "--listen", "0.0.0.0:0", "--auth", "dev", "--dev-users", "a"}, 2, "--auth=dev"},
		{"oidc without issuer", nil, []string{"serve", "--listen", "127.0.0.1:0", "--auth", "oidc", "--oidc-client-id", "x"}, 2, "--oidc-issuer"},
		{"bad origin", nil, []string{"serve", "--listen", "127.0.0.1:0", "--auth", "dev", "--allowed-origins", "https://x.test/path"}, 2, "--allowed-origins"},
		{"bad external url", nil, []string{"serve", "--listen", "127.0.0.1:0", "--auth", "dev", "--external-url", "ftp://x"}, 2, "--external-url"},
		{"bad env value", map[string]string{"TOOLGATE_SESSION_TTL": "forever"}, []string{"serve"}, 2, "TOOLGATE_SESSION_TTL"},
		{"unknown command", nil, []string{"frobnicate"}, 2, "unknown command"},
		{"keys without subcommand", nil, []string{"keys"}, 2, "missing subcommand"},
		{"token without name", nil, []string{"tokens", "create", "--user", "u"}, 2, "--name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			args := tt.args
			if tt.args[0] == "tokens" {
				args = append(args, "--database", filepath.Join(t.TempDir(), "t.db"))
			}
			code, _, errOut := runCommand(t, env, args...)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut, tt.wantErr)
			}
		})
	}
}

func TestTokensCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "toolgate.db")
	code, out, errOut := runCommand(t, nil, "tokens", "create", "--database", db, "--name", "ci", "--user", "svc", "--roles", "workload", "--ttl", "24h")
	if code != 0 {
		t.Fatalf("tokens create: exit %d %s", code, errOut)
	}
	var token, id string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "tgat_") {
			token = line
		}
		if strings.HasPrefix(line, "id:") {
			id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		}
	}
	if token == "" || id == "" {
		t.Fatalf("tokens create output: got %q, want a tgat_ token and an id", out)
	}

	code, out, _ = runCommand(t, nil, "tokens", "list", "--database", db)
	if code != 0 || !strings.Contains(out, id) || strings.Contains(out, token) {
		t.Errorf("tokens list: got exit %d %q, want the id and not the token", code, out)
	}

	// The token authenticates against a server on the same database until it
	// is revoked.
	s := startServe(t, "--database", db, "--auth", "dev", "--dev-users", "alice")
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/admin/providers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API token without the admin role on an admin route: got %d, want 403", resp.StatusCode)
	}

	if code, _, errOut := runCommand(t, nil, "tokens", "revoke", "--database", db, "--id", id); code != 0 {
		t.Fatalf("tokens revoke: exit %d %s", code, errOut)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked API token: got %d, want 401", resp.StatusCode)
	}
	if code, _, errOut := runCommand(t, nil, "tokens", "revoke", "--database", db, "--id", "tok_missing"); code != 2 || !strings.Contains(errOut, "no token has id") {
		t.Errorf("revoke of an unknown id: got exit %d %q", code, errOut)
	}
}
