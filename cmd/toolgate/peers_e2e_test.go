package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/testpeers"
	"github.com/toolgate/toolgate/internal/web/webtest"
)

// The end-to-end tests drive the chat in headless Chromium as a user
// would. Their peers are independent implementations where possible:
// oidc-provider with its own login and consent pages, and the reference
// server-everything. The calendar is the demo's Go SDK MCP server, which
// checks the IdP's tokens by introspection.

// lastAssistant is a JavaScript expression for the newest assistant
// message of the chat.
const lastAssistant = `[...document.querySelectorAll(".msg-assistant")].at(-1)`

// TestEndToEndRealPeers: bob connects his account from the consent card
// through oidc-provider's pages, and the same turn returns his calendar. After he revokes the grant at the provider, the next call gets
// a 401, the refresh fails with invalid_grant, and a fresh consent card
// brings the calendar back. server-everything, registered without a
// provider, runs its echo tool without any consent.
func TestEndToEndRealPeers(t *testing.T) {
	testpeers.EnsureInstalled(t)
	browser := webtest.Start(t)

	port := freeLoopbackPort(t)
	idp := testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients: []testpeers.Client{
			{ID: webConsentClientID, Secret: webConsentSecret, RedirectURIs: []string{"http://127.0.0.1:" + strconv.Itoa(port) + "/oauth/callback"}},
			{ID: webCalendarClientID, Secret: webCalendarSecret},
		},
		Users: []testpeers.User{
			{ID: "alice", Password: "alice-pw", Name: "Alice"},
			{ID: "bob", Password: "bob-pw", Name: "Bob"},
		},
	})
	calendarURL, calendarRejections := startPeersCalendar(t, idp)
	everything := testpeers.StartEverything(t)
	s := startServeOn(t, "127.0.0.1:"+strconv.Itoa(port),
		"--database", filepath.Join(t.TempDir(), "toolgate.db"), "--auth", "dev", "--dev-users", "alice:admin,bob")
	registerRealPeers(t, s, idp, calendarURL, everything.URL)

	tab := browser.NewUser(t, "bob")
	webSignIn(t, tab, s, "bob", "/")
	webWaitFor(t, tab, "the chat is ready", `document.querySelector(".chat")?.dataset.ready === "true"`)

	// First question: the card requests bob's consent, and the same turn
	// continues after the popup closes.
	peersSend(t, tab, "what's on my calendar?")
	peersWaitCard(t, tab)
	if status := webEval[string](t, tab, lastAssistant+`.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status ?? ""`); status != "awaiting_authorization" {
		t.Errorf("calendar call while the card shows: got status %q, want awaiting_authorization", status)
	}
	peersConnect(t, browser, tab, "bob")
	peersWantCalendar(t, tab, "bob", 1)

	// server-everything has no provider, so its echo runs at once.
	peersSend(t, tab, "echo hello")
	webWaitFor(t, tab, "the echo call is done and quoted in the answer",
		lastAssistant+`?.querySelector('.tool-call[data-tool-name="everything__echo"]')?.dataset.status === "done" &&
		 [...`+lastAssistant+`.querySelectorAll(".msg-text")].some((el) => el.textContent.includes("Echo: hello")) &&
		 !document.getElementById("send").disabled`)
	if n := webEval[int](t, tab, lastAssistant+`.querySelectorAll(".consent-card").length`); n != 0 {
		t.Errorf("consent cards in the echo answer: got %d, want 0", n)
	}

	// bob removes Toolgate's access at the provider. The stored access
	// token is now rejected and the refresh token is revoked, so Toolgate
	// must request consent again.
	idp.RevokeGrants(t, "bob")
	rejectedBefore := calendarRejections.Load()
	peersSend(t, tab, "what's on my calendar?")
	peersWaitCard(t, tab)
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-user").length`); n != 3 {
		t.Errorf("user messages after the revocation: got %d, want 3", n)
	}
	if calendarRejections.Load() == rejectedBefore {
		t.Errorf("the calendar answered no request with 401 after the revocation, so the fresh card did not come from a rejected token")
	}
	if !peersLogged(s.logs.String(), "token refresh failed", "bob", "invalid_grant") {
		t.Errorf("Toolgate logged no failed refresh with invalid_grant for bob before the fresh card:\n%s", s.logs.String())
	}
	peersConnect(t, browser, tab, "bob")
	peersWantCalendar(t, tab, "bob", 3)
}

// startPeersCalendar serves the demo calendar as startWebCalendar does,
// and counts its 401 Unauthorized responses.
func startPeersCalendar(t *testing.T, idp *testpeers.IDP) (string, *atomic.Int64) {
	t.Helper()
	rejections := &atomic.Int64{}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(&statusCounter{ResponseWriter: w, unauthorized: rejections}, r)
	}))
	t.Cleanup(srv.Close)
	handler = calendar.New(calendar.Options{
		Verifier:              calendar.IntrospectionVerifier(idp.IntrospectionEndpoint, webCalendarClientID, webCalendarSecret, "", nil),
		ResourceURL:           srv.URL + "/mcp",
		AuthorizationServers:  []string{idp.Issuer},
		AllowAnonymousListing: true,
	}).Handler()
	return srv.URL + "/mcp", rejections
}

// statusCounter is an http.ResponseWriter that counts 401 responses. It
// passes flushes through, because MCP responses may be event streams.
type statusCounter struct {
	http.ResponseWriter
	unauthorized *atomic.Int64
}

func (w *statusCounter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		w.unauthorized.Add(1)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusCounter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusCounter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// registerRealPeers registers, as the admin alice, the provider corp at
// idp, the calendar behind it, and server-everything without a provider,
// and fetches both catalogs.
func registerRealPeers(t *testing.T, s *servedToolgate, idp *testpeers.IDP, calendarURL, everythingURL string) {
	t.Helper()
	alice := devClient(t, s, "alice")
	mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/providers",
		`{"id":"corp","display_name":"Corp Login","type":"custom","client_id":"`+webConsentClientID+
			`","client_secret":"`+webConsentSecret+`","scopes":["openid"],"discovery_url":"`+
			idp.Issuer+`/.well-known/openid-configuration"}`, http.StatusCreated)
	mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers",
		`{"id":"calendar","display_name":"Calendar","url":"`+calendarURL+`","provider_id":"corp"}`, http.StatusCreated)
	mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers",
		`{"id":"everything","display_name":"Everything","url":"`+everythingURL+`"}`, http.StatusCreated)
	for _, id := range []string{"calendar", "everything"} {
		mustDo(t, alice, s, http.MethodPost, "/api/v1/admin/mcp-servers/"+id+"/refresh-tools", "", http.StatusOK)
	}
}

// peersSend sends message in the chat.
func peersSend(t *testing.T, tab context.Context, message string) {
	t.Helper()
	webDo(t, tab, "send "+message,
		chromedp.SendKeys(chromedp.ID("message"), message),
		chromedp.Click(chromedp.ID("send")))
}

// peersWaitCard waits until the newest assistant message shows a consent
// card with a Connect button and the turn has stopped streaming.
func peersWaitCard(t *testing.T, tab context.Context) {
	t.Helper()
	webWaitFor(t, tab, "a consent card appears in the newest answer",
		`!!`+lastAssistant+`?.querySelector(".consent-card:not(.consent-card-done) .consent-connect") &&
		 !document.getElementById("send").disabled`)
}

// peersConnect clicks Connect on the newest consent card and, in the
// popup, signs in at the IdP as user and approves. The IdP skips its
// login page while its session cookie from an earlier consent is valid.
func peersConnect(t *testing.T, browser *webtest.Browser, tab context.Context, user string) {
	t.Helper()
	webEval[bool](t, tab, `(`+lastAssistant+`.querySelector(".consent-card:not(.consent-card-done) .consent-connect").id = "peers-connect", true)`)
	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.ID("peers-connect")))
	webEval[bool](t, tab, `(document.getElementById("peers-connect")?.removeAttribute("id"), true)`)
	popup := browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)

	webWaitFor(t, popup, "the IdP shows its login or consent page", `!!document.getElementById("username") || !!document.getElementById("approve")`)
	if webEval[bool](t, popup, `!!document.getElementById("username")`) {
		webDo(t, popup, "sign in at the IdP as "+user,
			webType("#username", user),
			chromedp.SendKeys(chromedp.ID("password"), user+"-pw"),
			chromedp.Click(chromedp.ID("login")))
	}
	webDo(t, popup, "approve at the IdP",
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")))
	if err := webtest.WaitClosed(popup, browserStepTimeout); err != nil {
		t.Fatalf("consent popup: %v", err)
	}
}

// peersWantCalendar waits until the newest assistant message has run the
// calendar call and quotes user's calendar. It checks that the turn of the
// userMessages-th message resumed instead of a new turn starting.
func peersWantCalendar(t *testing.T, tab context.Context, user string, userMessages int) {
	t.Helper()
	webWaitFor(t, tab, "the calendar call is done",
		lastAssistant+`?.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status === "done"`)
	webWaitFor(t, tab, "the answer quotes "+user+"'s calendar and is finished",
		`[...`+lastAssistant+`.querySelectorAll(".msg-text")].some((el) => el.textContent.includes("1:1 with `+user+`'s manager")) &&
		 !document.getElementById("send").disabled`)
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-user").length`); n != userMessages {
		t.Errorf("user messages: got %d, want %d: the turn resumes without typing again", n, userMessages)
	}
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-assistant").length`); n != userMessages {
		t.Errorf("assistant messages: got %d, want %d: the resumed answer continues the same message", n, userMessages)
	}
	if text := webEval[string](t, tab, lastAssistant+`.querySelector(".consent-card").textContent`); !strings.Contains(text, "connected") {
		t.Errorf("consent card after connecting: got %q, want it to say the provider is connected", text)
	}
}

// peersLogged reports whether a JSON log line has the message msg, the
// user_id user, and contains fragment anywhere.
func peersLogged(logs, msg, user, fragment string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var entry struct {
			Msg    string `json:"msg"`
			UserID string `json:"user_id"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == msg && entry.UserID == user && strings.Contains(line, fragment) {
			return true
		}
	}
	return false
}

// TestEndToEndDemo runs "toolgate demo" as a newcomer would and follows
// its welcome text in the browser: sign in as bob, ask for the calendar,
// connect at the demo provider as bob/bob, and get the answer.
func TestEndToEndDemo(t *testing.T) {
	browser := webtest.Start(t)
	d := startDemo(t, "--listen", "127.0.0.1:0")

	tab := browser.NewUser(t, "bob")
	webSignIn(t, tab, d.servedToolgate, "bob", "/")
	webWaitFor(t, tab, "the chat is ready", `document.querySelector(".chat")?.dataset.ready === "true"`)
	peersSend(t, tab, "what's on my calendar?")
	peersWaitCard(t, tab)

	webEval[bool](t, tab, `(document.querySelector(".consent-card .consent-connect").id = "peers-connect", true)`)
	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.ID("peers-connect")))
	popup := browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)
	webDo(t, popup, "sign in at the demo provider as bob",
		chromedp.WaitVisible(chromedp.ID("username")),
		webType("#username", "bob"),
		chromedp.SendKeys(chromedp.ID("password"), "bob"),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#consent button[value="approve"]`)),
		chromedp.Click(chromedp.CSS(`#consent button[value="approve"]`)))
	if err := webtest.WaitClosed(popup, browserStepTimeout); err != nil {
		t.Fatalf("consent popup: %v", err)
	}

	peersWantCalendar(t, tab, "bob", 1)
}
