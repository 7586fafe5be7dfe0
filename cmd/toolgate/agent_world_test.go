package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/testpeers"
)

// Credentials of the IdP clients in the agent scenarios: Toolgate's
// consent flow and the calendar's introspection.
const (
	consentClientID     = "toolgate-consent"
	consentClientSecret = "toolgate-consent-secret"
	calendarClientID    = "calendar-rs"
	calendarSecret      = "calendar-rs-secret"
)

// scenarioUsers are the dev users of every Toolgate in the agent
// scenarios, as name[:roles]. alice is the admin who registers the
// provider and the servers. Each scenario chats as its own user, so that
// one scenario's connection or revoked grant does not touch another's.
// Roles open the servers that only one scenario may see.
var scenarioUsers = []string{
	"alice:admin", "ana", "ben", "cai", "dia", "eli", "fay", "gus", "hal", "ida",
	"jon:brittle", "kim:offline", "lea", "max", "ned",
}

// toolgateInstances name the Toolgate servers of the agent scenarios. Each
// gets a loopback port reserved before the IdP starts, because its
// consent callback URL must be registered there.
var toolgateInstances = []string{"main", "ttl", "restart", "replica-a", "replica-b"}

// agentWorld is what the agent scenarios share: a real OpenID provider,
// the calendar MCP server (Go SDK) that checks its tokens, the reference
// server-everything, a server that rejects every tool call with 401, and
// the fake model.
type agentWorld struct {
	idp        *testpeers.IDP
	calendar   string
	everything string
	brittle    string
	model      *fakeModel
	ports      map[string]int
}

func startAgentWorld(t *testing.T) *agentWorld {
	t.Helper()
	testpeers.EnsureInstalled(t)

	w := &agentWorld{ports: map[string]int{}}
	var callbacks []string
	for _, name := range toolgateInstances {
		w.ports[name] = freeLoopbackPort(t)
		callbacks = append(callbacks, "http://127.0.0.1:"+strconv.Itoa(w.ports[name])+"/oauth/callback")
	}
	var users []testpeers.User
	for _, u := range scenarioUsers {
		name, _, _ := strings.Cut(u, ":")
		users = append(users, testpeers.User{ID: name, Password: name + "-pw"})
	}
	w.idp = testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients: []testpeers.Client{
			{ID: consentClientID, Secret: consentClientSecret, RedirectURIs: callbacks},
			{ID: calendarClientID, Secret: calendarSecret},
		},
		Users: users,
	})

	w.calendar = startCalendar(t, w.idp)
	w.brittle = startBrittleServer(t)
	w.everything = testpeers.StartEverything(t).URL
	w.model = startFakeModel(t)
	return w
}

// startCalendar serves the demo calendar on loopback, checking bearer
// tokens at the IdP's introspection endpoint, and returns its MCP URL.
// It lists its tools without a token, as the demo does.
func startCalendar(t *testing.T, idp *testpeers.IDP) string {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cal := calendar.New(calendar.Options{
		Verifier:              calendar.IntrospectionVerifier(idp.IntrospectionEndpoint, calendarClientID, calendarSecret, "", nil),
		ResourceURL:           srv.URL + "/mcp",
		AuthorizationServers:  []string{idp.Issuer},
		AllowAnonymousListing: true,
	})
	handler = cal.Handler()
	return srv.URL + "/mcp"
}

// startBrittleServer serves a Go SDK MCP server whose tool lists work but
// whose every tool call gets HTTP 401 with an invalid_token challenge, as
// a server whose token check is broken would. It returns its MCP URL.
func startBrittleServer(t *testing.T) string {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "brittle", Version: "1.0.0"}, nil)
	type pingInput struct{}
	mcp.AddTool(server, &mcp.Tool{Name: "ping", Description: "Answer pong."},
		func(context.Context, *mcp.CallToolRequest, pingInput) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil, nil
		})
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token is not accepted"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		streamable.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// startGate runs "toolgate serve" as the named instance on its reserved
// port with the scenario users and the fake model.
func (w *agentWorld) startGate(t *testing.T, instance, database string, extra ...string) *servedToolgate {
	t.Helper()
	args := []string{
		"--database", database, "--auth", "dev", "--dev-users", strings.Join(scenarioUsers, ","),
		"--openai-base-url", w.model.URL, "--openai-models", "gpt-test", "--scripted-model=false",
	}
	return startServeOn(t, "127.0.0.1:"+strconv.Itoa(w.ports[instance]), append(args, extra...)...)
}

// register does what an admin setting up Toolgate would. alice registers
// the provider corp and the MCP servers calendar and everything (open to
// all) and brittle (role brittle only). Then she connects her own corp
// account and fetches the gated catalogs with it.
func (w *agentWorld) register(t *testing.T, s *servedToolgate) {
	t.Helper()
	alice := w.registerServers(t, s)
	w.connect(t, s, alice, "alice")
	for _, id := range []string{"calendar", "everything", "brittle"} {
		mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers/"+id+"/refresh-tools", "", http.StatusOK)
	}
}

// registerServers registers the provider and the servers as register
// does, without fetching any catalog, and returns alice's client.
func (w *agentWorld) registerServers(t *testing.T, s *servedToolgate) *http.Client {
	t.Helper()
	alice := devClient(t, s, "alice")
	provider := `{"id":"corp","display_name":"Corp","type":"custom","client_id":"` + consentClientID +
		`","client_secret":"` + consentClientSecret + `","scopes":["openid"],"discovery_url":"` +
		w.idp.Issuer + `/.well-known/openid-configuration"}`
	mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/providers", provider, http.StatusCreated)
	servers := []string{
		`{"id":"calendar","display_name":"Calendar","url":"` + w.calendar + `","provider_id":"corp"}`,
		`{"id":"everything","display_name":"Everything","url":"` + w.everything + `"}`,
		`{"id":"brittle","display_name":"Brittle","url":"` + w.brittle + `","provider_id":"corp","allowed_roles":["brittle"]}`,
	}
	for _, body := range servers {
		mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers", body, http.StatusCreated)
	}
	return alice
}

// connect connects user's corp account outside any turn, through the
// connectors API and the consent pages.
func (w *agentWorld) connect(t *testing.T, s *servedToolgate, browser *http.Client, user string) {
	t.Helper()
	body := mustDo(t, browser, s, http.MethodPost, "/api/v1/connectors/corp/consent", "{}", http.StatusOK)
	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	decodeJSONBody(t, body, &started)
	w.consent(t, browser, started.AuthorizationURL, user, true)
}

// consent does in browser what a user does with an authorization_url. It
// opens the URL, whose /connect page redirects to the IdP, signs in there
// as user and approves or denies. Then it follows the redirect back to
// Toolgate's callback, which ends the consent.
func (w *agentWorld) consent(t *testing.T, browser *http.Client, authorizationURL, user string, approve bool) {
	t.Helper()
	resp, err := browser.Get(authorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	toIdP, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(toIdP.String(), w.idp.AuthorizationEndpoint) {
		t.Fatalf("GET %s: got status %d to %v, want 303 to the IdP's authorization endpoint", authorizationURL, resp.StatusCode, toIdP)
	}

	callback := w.idp.Login(t, browser, toIdP.String(), user, user+"-pw", approve)
	resp, err = browser.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("consent callback: got status %d: %s", resp.StatusCode, page)
	}
}

// mustDo sends a request with do and fails the test unless the status is
// want. It returns the body.
func mustDo(t *testing.T, c *http.Client, s *servedToolgate, method, path, body string, want int) string {
	t.Helper()
	status, got := do(t, c, s, method, path, body)
	if status != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, status, got, want)
	}
	return got
}

// newSession creates a chat session for c and returns its id.
func newSession(t *testing.T, c *http.Client, s *servedToolgate) string {
	t.Helper()
	body := mustDo(t, c, s, http.MethodPost, "/api/v1/sessions", "", http.StatusCreated)
	var sess struct {
		ID string `json:"id"`
	}
	decodeJSONBody(t, body, &sess)
	return sess.ID
}

// sessionDetail is the part of GET /api/v1/sessions/{id} the scenarios
// check.
type sessionDetail struct {
	Messages []struct {
		Role      string `json:"role"`
		Text      string `json:"text"`
		ToolCalls []struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"tool_calls"`
		ToolResults []struct {
			ToolUseID string `json:"tool_use_id"`
			Content   string `json:"content"`
			Status    string `json:"status"`
		} `json:"tool_results"`
	} `json:"messages"`
	PendingInterrupts []struct {
		InterruptID string `json:"interrupt_id"`
		ProviderID  string `json:"provider_id"`
		ToolUseID   string `json:"tool_use_id"`
	} `json:"pending_interrupts"`
	Paused bool `json:"paused"`
}

func getSession(t *testing.T, c *http.Client, s *servedToolgate, id string) sessionDetail {
	t.Helper()
	var d sessionDetail
	decodeJSONBody(t, mustDo(t, c, s, http.MethodGet, "/api/v1/sessions/"+id, "", http.StatusOK), &d)
	return d
}

// resumeBody returns a turn request that responds to the interrupts with
// response.
func resumeBody(response string, interruptIDs ...string) string {
	var answers []map[string]string
	for _, id := range interruptIDs {
		answers = append(answers, map[string]string{"interrupt_id": id, "response": response})
	}
	b, _ := json.Marshal(map[string]any{"interrupt_responses": answers})
	return string(b)
}

// messageBody returns a turn request with a new user message.
func messageBody(text string) string {
	b, _ := json.Marshal(map[string]string{"message": text})
	return string(b)
}
