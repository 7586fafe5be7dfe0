package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/demo"
	"github.com/toolgate/toolgate/internal/demo/oidcprovider/oidcprovidertest"
)

// runningDemo is a "toolgate demo" running in the test process.
type runningDemo struct {
	*servedToolgate
	stdout  *syncBuffer
	startup time.Duration
}

var (
	welcomeURL     = regexp.MustCompile(`Open (http://127\.0\.0\.1:\d+)/\n`)
	welcomeDataDir = regexp.MustCompile(`Data: (\S+) \(`)
)

// startDemo runs "toolgate demo" with args and waits until it prints its
// URL. The demo stops when the test ends.
func startDemo(t *testing.T, args ...string) *runningDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	started := time.Now()
	go func() {
		done <- run(ctx, append([]string{"demo"}, args...), stdout, stderr)
	}()

	d := &runningDemo{servedToolgate: &servedToolgate{logs: stderr}, stdout: stdout}
	var once sync.Once
	var code int
	d.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { d.stop() })

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := welcomeURL.FindStringSubmatch(stdout.String()); m != nil {
			d.URL, d.startup = m[1], time.Since(started)
			return d
		}
		select {
		case code := <-done:
			t.Fatalf("toolgate demo exited with %d before it was ready:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("toolgate demo was not ready within 30s:\n%s\n%s", stdout.String(), stderr.String())
	return nil
}

// demoEvent is one event of a turn's stream.
type demoEvent struct {
	name string
	data map[string]any
}

// runDemoTurn posts body to the session's turns route and returns the events
// of the whole stream.
func runDemoTurn(t *testing.T, c *http.Client, s *servedToolgate, sessionID, body string) []demoEvent {
	t.Helper()
	status, stream := do(t, c, s, http.MethodPost, "/api/v1/sessions/"+sessionID+"/turns", body)
	if status != http.StatusOK {
		t.Fatalf("POST turn %s: got status %d %s, want 200 with an event stream", body, status, stream)
	}
	var events []demoEvent
	var current demoEvent
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			current.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &current.data); err != nil {
				t.Fatalf("turn stream: invalid event data %q: %v", line, err)
			}
		case line == "" && current.name != "":
			events = append(events, current)
			current = demoEvent{}
		}
	}
	return events
}

// findDemoEvent returns the first event called name, failing the test when
// there is none.
func findDemoEvent(t *testing.T, events []demoEvent, name string) map[string]any {
	t.Helper()
	for _, e := range events {
		if e.name == name {
			return e.data
		}
	}
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.name
	}
	t.Fatalf("turn stream: no %s event among %v", name, names)
	return nil
}

func decodeDemoObject(t *testing.T, body string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return out
}

// TestDemoConsentFlow runs Toolgate's main job through the demo: bob asks
// for his calendar, is asked to connect, signs in at the demo provider,
// approves, and the resumed turn returns his events.
func TestDemoConsentFlow(t *testing.T) {
	d := startDemo(t, "--listen", "127.0.0.1:0", "--log-level", "info")
	t.Logf("toolgate demo ready in %v (in-process, after build)", d.startup)

	out := d.stdout.String()
	for _, want := range []string{
		"Sign in as bob and ask: what's on my calendar?",
		"sign in as bob / bob and approve",
		"Try as alice, the admin: Admin → Connectors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("welcome text does not contain %q:\n%s", want, out)
		}
	}
	m := welcomeDataDir.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("welcome text names no data directory:\n%s", out)
	}
	dataDir := m[1]

	anonymous := &http.Client{}
	if status, body := do(t, anonymous, d.servedToolgate, http.MethodGet, "/readyz", ""); status != http.StatusOK {
		t.Fatalf("GET /readyz: got %d %s, want 200", status, body)
	}

	// The provider and the MCP server are registered.
	alice := devClient(t, d.servedToolgate, "alice")
	status, body := do(t, alice, d.servedToolgate, http.MethodGet, "/api/v1/admin/providers/"+demo.ProviderID, "")
	if status != http.StatusOK {
		t.Fatalf("GET provider %s: got %d %s, want 200", demo.ProviderID, status, body)
	}
	if p := decodeDemoObject(t, body); p["type"] != "custom" || p["client_secret_set"] != true {
		t.Errorf("provider %s: got %s, want a custom provider with a client secret", demo.ProviderID, body)
	}
	status, body = do(t, alice, d.servedToolgate, http.MethodGet, "/api/v1/admin/mcp-servers/"+demo.MCPServerID, "")
	if status != http.StatusOK {
		t.Fatalf("GET MCP server %s: got %d %s, want 200", demo.MCPServerID, status, body)
	}
	server := decodeDemoObject(t, body)
	if server["provider_id"] != demo.ProviderID {
		t.Errorf("MCP server provider_id: got %v, want %s", server["provider_id"], demo.ProviderID)
	}
	if !strings.Contains(body, `"name":"list_events"`) {
		t.Errorf("MCP server tools: got %s, want list_events in the cached catalog", body)
	}

	// Bob asks; the turn pauses for his consent.
	bob := devClient(t, d.servedToolgate, "bob")
	status, body = do(t, bob, d.servedToolgate, http.MethodPost, "/api/v1/sessions", "")
	if status != http.StatusCreated {
		t.Fatalf("create session: got %d %s, want 201", status, body)
	}
	sessionID, _ := decodeDemoObject(t, body)["id"].(string)
	events := runDemoTurn(t, bob, d.servedToolgate, sessionID, `{"message":"what's on my calendar?"}`)
	oauth := findDemoEvent(t, events, "oauth_required")
	if oauth["provider_id"] != demo.ProviderID {
		t.Errorf("oauth_required provider_id: got %v, want %s", oauth["provider_id"], demo.ProviderID)
	}
	if done := findDemoEvent(t, events, "done"); done["stop_reason"] != "interrupt" {
		t.Errorf("first turn: got stop_reason %v, want interrupt", done["stop_reason"])
	}
	interruptID, _ := oauth["interrupt_id"].(string)
	rawAuthURL, _ := oauth["authorization_url"].(string)
	authURL, err := url.Parse(d.URL)
	if err == nil {
		authURL, err = authURL.Parse(rawAuthURL)
	}
	if err != nil || interruptID == "" {
		t.Fatalf("oauth_required: got interrupt %q, authorization_url %q; want both", interruptID, rawAuthURL)
	}

	// Bob connects through the demo provider's real pages.
	callback := oidcprovidertest.Login(t, bob, authURL.String(), "bob", "bob", true)
	if callback.Path != "/oauth/callback" || callback.Query().Get("code") == "" {
		t.Fatalf("provider redirect after approval: got %s, want Toolgate's /oauth/callback with a code", callback)
	}
	completed := oidcprovidertest.Get(t, bob, callback.String())
	if completed.Location == nil || completed.Location.Path != "/oauth-complete" {
		t.Fatalf("Toolgate's callback: got status %d, location %v; want a redirect to /oauth-complete\n%s",
			completed.Status, completed.Location, completed.Body)
	}

	// The resumed turn calls the tool with bob's token.
	events = runDemoTurn(t, bob, d.servedToolgate, sessionID,
		`{"interrupt_responses":[{"interrupt_id":"`+interruptID+`","response":"consented"}]}`)
	result := findDemoEvent(t, events, "tool_result")
	if result["is_error"] != false {
		t.Errorf("tool result: got %v, want a success", result)
	}
	if content, _ := result["content"].(string); !strings.Contains(content, "events in the calendar of bob") {
		t.Errorf("tool result content: got %q, want bob's calendar", content)
	}
	if done := findDemoEvent(t, events, "done"); done["stop_reason"] != "end_turn" {
		t.Errorf("resumed turn: got stop_reason %v, want end_turn", done["stop_reason"])
	}

	// Disconnecting revokes bob's grant at the demo provider (RFC 7009).
	status, body = do(t, bob, d.servedToolgate, http.MethodDelete, "/api/v1/connectors/"+demo.ProviderID+"/connection", "")
	if status != http.StatusNoContent {
		t.Errorf("disconnect: got %d %s, want 204", status, body)
	}
	if !strings.Contains(d.logs.String(), `msg="refresh token revoked with its grant" server=demo-idp client_id=toolgate subject=bob`) {
		t.Errorf("after disconnect, the demo provider logged no revocation of bob's refresh token:\n%s", d.logs.String())
	}

	// Ctrl-C: everything stops and the temporary data directory goes. An
	// unused connection, such as a browser opens ahead of need, does not
	// hold up the stop, although net/http alone waits 5 seconds for it.
	unused, err := net.Dial("tcp", strings.TrimPrefix(d.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	stopping := time.Now()
	if code := d.stop(); code != 0 {
		t.Errorf("demo exit code after cancel: got %d, want 0\n%s", code, d.logs.String())
	}
	if took := time.Since(stopping); took > 4*time.Second {
		t.Errorf("stop with an unused connection open: took %v, want well under net/http's 5s wait\n%s", took, d.logs.String())
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s after stop: got %v, want it removed", dataDir, err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(d.URL, "http://"), time.Second); err == nil {
		t.Errorf("Toolgate still accepts connections after stop")
	}
	if strings.Contains(d.logs.String(), "level=ERROR") {
		t.Errorf("demo logged errors:\n%s", d.logs.String())
	}
}

// TestDemoReusesDataDir starts the demo twice on one --data-dir: the
// second start updates the registrations to its new ports.
func TestDemoReusesDataDir(t *testing.T) {
	dir := t.TempDir()
	first := startDemo(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	if code := first.stop(); code != 0 {
		t.Fatalf("first demo exit code: got %d, want 0\n%s", code, first.logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "toolgate.db")); err != nil {
		t.Fatalf("database in --data-dir after stop: %v, want it kept", err)
	}

	second := startDemo(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	issuer := regexp.MustCompile(`Demo provider: (\S+)\.`).FindStringSubmatch(second.stdout.String())
	if issuer == nil {
		t.Fatalf("welcome text names no provider URL:\n%s", second.stdout.String())
	}
	alice := devClient(t, second.servedToolgate, "alice")
	status, body := do(t, alice, second.servedToolgate, http.MethodGet, "/api/v1/admin/providers", "")
	if status != http.StatusOK {
		t.Fatalf("list providers: got %d %s", status, body)
	}
	if n := strings.Count(body, `"id":"`+demo.ProviderID+`"`); n != 1 {
		t.Errorf("providers after the second start: got %d named %s, want 1\n%s", n, demo.ProviderID, body)
	}
	if !strings.Contains(body, `"discovery_url":"`+issuer[1]+`/.well-known/openid-configuration"`) {
		t.Errorf("provider after the second start: got %s, want the discovery URL of %s", body, issuer[1])
	}
	status, body = do(t, alice, second.servedToolgate, http.MethodGet, "/api/v1/admin/mcp-servers/"+demo.MCPServerID, "")
	if status != http.StatusOK || !strings.Contains(body, `"provider_id":"`+demo.ProviderID+`"`) {
		t.Errorf("MCP server after the second start: got %d %s, want it attached to %s", status, body, demo.ProviderID)
	}
}

func TestDemoListenAddress(t *testing.T) {
	occupied, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupied.Close()
	addr := occupied.Addr().String()

	t.Run("chosen address occupied", func(t *testing.T) {
		code, _, errOut := runCommand(t, nil, "demo", "--listen", addr, "--data-dir", t.TempDir())
		if code != 1 {
			t.Errorf("exit code: got %d, want 1", code)
		}
		if !strings.Contains(errOut, "--listen 127.0.0.1:0") {
			t.Errorf("stderr: got %q, want advice to pass --listen 127.0.0.1:0", errOut)
		}
	})

	t.Run("default address occupied", func(t *testing.T) {
		ln, notice, err := listenToolgate(addr, false)
		if err != nil {
			t.Fatalf("listenToolgate: %v", err)
		}
		defer ln.Close()
		if ln.Addr().String() == addr {
			t.Errorf("listener: got the occupied address %s, want another port", addr)
		}
		if !strings.Contains(notice, ln.Addr().String()) {
			t.Errorf("notice: got %q, want it to name %s", notice, ln.Addr())
		}
	})

	t.Run("provider on all interfaces", func(t *testing.T) {
		code, _, errOut := runCommand(t, nil, "demo", "--listen", "127.0.0.1:0", "--idp-listen", "0.0.0.0:0", "--data-dir", t.TempDir())
		if code != 1 || !strings.Contains(errOut, "loopback") {
			t.Errorf("--idp-listen 0.0.0.0:0: got exit %d %q, want 1 and a loopback-only error", code, errOut)
		}
	})
}
