package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/testpeers"
	"github.com/toolgate/toolgate/internal/web/webtest"
)

// The browser tests drive the web UI in headless Chromium against a real
// "toolgate serve", the oidc-provider IdP with its login and consent
// pages, and the demo calendar MCP server, which checks tokens by
// introspection at that IdP. The chat uses the scripted demo model, which
// calls calendar__list_events for "what's on my calendar?".

// IdP clients of the browser tests: Toolgate's consent flow, and the
// calendar's introspection.
const (
	webConsentClientID  = "toolgate-web"
	webConsentSecret    = "toolgate-web-secret"
	webCalendarClientID = "calendar-web-rs"
	webCalendarSecret   = "calendar-web-rs-secret"
)

// webUsers are the dev users. alice is the admin; every chat scenario has
// its own user, so that one scenario's connection does not touch another.
var webUsers = []string{"alice:admin", "bob", "carol", "dave", "erin", "frank"}

// webUpdateScreenshotsEnv, set to 1, writes the screenshots into
// docs/screenshots instead of a temporary directory.
const webUpdateScreenshotsEnv = "TOOLGATE_UPDATE_SCREENSHOTS"

// browserStepTimeout bounds one wait for the page, such as for the answer
// after a consent.
const browserStepTimeout = 30 * time.Second

// webIcon is the provider icon the admin enters: a small SVG data URL.
var webIcon = "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(
	`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b7a53"/>`+
		`<path d="M8 11h16v12H8z" fill="#fff"/><path d="M8 11h16v4H8z" fill="#9be3c4"/></svg>`))

type webWorld struct {
	idp         *testpeers.IDP
	calendarURL string
	browser     *webtest.Browser
	screenshots string
}

func TestWebUI(t *testing.T) {
	testpeers.EnsureInstalled(t)
	browser := webtest.Start(t)

	mainPort, ttlPort := freeLoopbackPort(t), freeLoopbackPort(t)
	var users []testpeers.User
	for _, u := range webUsers {
		name, _, _ := strings.Cut(u, ":")
		users = append(users, testpeers.User{ID: name, Password: name + "-pw", Name: strings.ToUpper(name[:1]) + name[1:]})
	}
	idp := testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients: []testpeers.Client{
			{ID: webConsentClientID, Secret: webConsentSecret, RedirectURIs: []string{
				"http://127.0.0.1:" + strconv.Itoa(mainPort) + "/oauth/callback",
				"http://127.0.0.1:" + strconv.Itoa(ttlPort) + "/oauth/callback",
			}},
			{ID: webCalendarClientID, Secret: webCalendarSecret},
		},
		Users: users,
	})
	w := &webWorld{idp: idp, calendarURL: startWebCalendar(t, idp), browser: browser, screenshots: t.TempDir()}
	if os.Getenv(webUpdateScreenshotsEnv) == "1" {
		w.screenshots = filepath.Join("..", "..", "docs", "screenshots")
	}

	// A second model, which is never called, makes the chat show its model
	// picker; the scripted demo model stays the default.
	s := startServeOn(t, "127.0.0.1:"+strconv.Itoa(mainPort),
		"--database", filepath.Join(t.TempDir(), "toolgate.db"), "--auth", "dev", "--dev-users", strings.Join(webUsers, ","),
		"--openai-base-url", "http://127.0.0.1:9/v1", "--openai-models", "unused-model", "--default-model", "scripted")

	if !t.Run("admin adds provider and MCP server", func(t *testing.T) { w.adminSetup(t, s) }) {
		t.FailNow()
	}
	if !t.Run("connect and disconnect in settings", func(t *testing.T) { w.settingsConnect(t, s) }) {
		t.FailNow()
	}
	t.Run("consent card resumes the turn", func(t *testing.T) { w.chatConsent(t, s) })
	t.Run("blocked popup offers a new tab", func(t *testing.T) { w.chatBlockedPopup(t, s) })
	t.Run("consent card survives a reload", func(t *testing.T) { w.chatReload(t, s) })
	t.Run("dismissed card continues without", func(t *testing.T) { w.chatDismiss(t, s) })
	t.Run("expired pause offers to resend", func(t *testing.T) {
		ttl := startServeOn(t, "127.0.0.1:"+strconv.Itoa(ttlPort),
			"--database", filepath.Join(t.TempDir(), "toolgate.db"), "--auth", "dev", "--dev-users", strings.Join(webUsers, ","),
			"--pause-ttl", "3s")
		w.chatExpiredPause(t, ttl)
	})
}

// startWebCalendar serves the demo calendar on loopback and returns its
// MCP URL. It checks bearer tokens at the IdP's introspection endpoint,
// and lets anyone list its tools.
func startWebCalendar(t *testing.T, idp *testpeers.IDP) string {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	handler = calendar.New(calendar.Options{
		Verifier:              calendar.IntrospectionVerifier(idp.IntrospectionEndpoint, webCalendarClientID, webCalendarSecret, "", nil),
		ResourceURL:           srv.URL + "/mcp",
		AuthorizationServers:  []string{idp.Issuer},
		AllowAnonymousListing: true,
	}).Handler()
	return srv.URL + "/mcp"
}

// --- Browser steps -----------------------------------------------------------

// webDo runs browser actions and fails the test with what on error.
func webDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// webWaitFor polls a JavaScript expression until it is true. An error,
// as while the page navigates, counts as false until the time is up.
func webWaitFor(t *testing.T, ctx context.Context, what, expression string) {
	t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expression))
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main")?.innerText ?? document.body.innerText`))
	t.Fatalf("waiting until %s: timed out after %s (last error: %v)\npage text:\n%s", what, browserStepTimeout, lastErr, body)
}

func webEval[T any](t *testing.T, ctx context.Context, expression string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// webSignIn opens path as a dev user: the page sends the browser to the
// dev sign-in page, which returns it to path.
func webSignIn(t *testing.T, ctx context.Context, s *servedToolgate, user, path string) {
	t.Helper()
	webDo(t, ctx, "open "+path,
		chromedp.Navigate(s.URL+path),
		chromedp.WaitVisible(chromedp.CSS(`button[value="`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`button[value="`+user+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".site-header")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+path {
		t.Fatalf("after sign-in: at %s, want %s", loc, s.URL+path)
	}
}

// webType replaces the value of the input selected by css with text,
// typing it as a user would.
func webType(css, text string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{webSetValue(css, "")}
	if text != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(css), text))
	}
	return chromedp.Steps(steps...)
}

// webSetValue sets the value of the input selected by css at once and
// fires its input event, as pasting does.
func webSetValue(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`{ const el = document.querySelector(%s); el.value = %s; el.dispatchEvent(new Event("input", { bubbles: true })); }`,
		jsString(css), jsString(value)))
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// webSelect picks value in a select and fires its change event, as
// choosing with the keyboard or mouse does.
func webSelect(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`{ const s = document.querySelector(%s); s.value = %s; s.dispatchEvent(new Event("change", { bubbles: true })); }`, jsString(css), jsString(value)))
}

// consentInPopup signs user in at the IdP in the consent window and
// approves, then waits for the window to close itself.
func (w *webWorld) consentInPopup(t *testing.T, popup context.Context, user string, wantClosed bool) {
	t.Helper()
	webDo(t, popup, "sign in at the IdP as "+user,
		chromedp.WaitVisible(chromedp.ID("username")),
		webType("#username", user),
		chromedp.SendKeys(chromedp.ID("password"), user+"-pw"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")))
	if !wantClosed {
		webDo(t, popup, "wait for the consent's landing page", chromedp.WaitVisible(chromedp.CSS(`#oauth-outcome[data-status="success"]`)))
		return
	}
	if err := webtest.WaitClosed(popup, browserStepTimeout); err != nil {
		t.Fatalf("consent popup: %v", err)
	}
}

func (w *webWorld) screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	webtest.Screenshot(t, ctx, filepath.Join(w.screenshots, name))
}

// screenshotNarrow opens the page of ctx again in another tab of the
// same user, 360 CSS pixels wide as on a small phone, checks that nothing
// is wider than that, and saves a screenshot once ready is true.
func (w *webWorld) screenshotNarrow(t *testing.T, ctx context.Context, name, ready string) {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	narrow, cancel := chromedp.NewContext(ctx)
	defer cancel()
	webDo(t, narrow, "open the page 360 px wide",
		chromedp.EmulateViewport(360, 780),
		chromedp.Navigate(loc))
	webWaitFor(t, narrow, "the narrow page is ready", ready)
	if overflow := webEval[int](t, narrow, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("%s: the page is %d px wider than a 360 px window", name, overflow)
	}
	w.screenshot(t, narrow, name)
}

// --- Scenarios -----------------------------------------------------------------

// adminSetup: alice adds the provider with the preset picker and the
// custom fields, sees the redirect URI, and adds the calendar server.
func (w *webWorld) adminSetup(t *testing.T, s *servedToolgate) {
	tab := w.browser.NewUser(t, "alice")
	webSignIn(t, tab, s, "alice", "/admin/connectors")
	webWaitFor(t, tab, "the empty provider list shows", `document.getElementById("providers-status").textContent.includes("No providers yet")`)

	// A vendor preset fills in its endpoints and offers its scopes.
	webDo(t, tab, "open the provider form",
		chromedp.Click(chromedp.ID("add-provider")),
		chromedp.WaitVisible(chromedp.ID("provider-form")),
		webSelect("#p-type", "google"))
	webWaitFor(t, tab, "the Google preset shows its endpoints and scope hints",
		`document.getElementById("p-preset-info").textContent.includes("https://accounts.google.com/o/oauth2/v2/auth") &&
		 document.querySelectorAll("#p-scope-hint-list input[type=checkbox]").length > 0 &&
		 document.getElementById("p-display-name").value === "Google" && document.getElementById("p-id").value === "google"`)
	if !webEval[bool](t, tab, `document.getElementById("p-custom").hidden`) {
		t.Errorf("the custom server fields show for the Google preset")
	}
	webDo(t, tab, "tick a scope hint", chromedp.Click(chromedp.CSS("#p-scope-hint-list li:nth-child(2) input")))
	if got := webEval[string](t, tab, `document.getElementById("p-scopes").value`); got != "email" {
		t.Errorf("scopes after ticking the email hint: got %q, want email", got)
	}
	w.screenshot(t, tab, "admin-provider-form-preset.png")

	webDo(t, tab, "fill in a custom provider",
		webSelect("#p-type", "custom"),
		chromedp.WaitVisible(chromedp.ID("p-discovery-url")),
		webType("#p-display-name", "Corp Login"),
		webType("#p-id", "corp"),
		webType("#p-discovery-url", w.idp.Issuer+"/.well-known/openid-configuration"),
		webType("#p-client-id", webConsentClientID),
		webType("#p-client-secret", webConsentSecret),
		webType("#p-scopes", "openid"),
		webType("#p-roles", ""),
		webSetValue("#p-icon", webIcon),
		webType("#p-params", "ui_locales=en"))
	fullPage, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	webWriteScreenshot(t, filepath.Join(w.screenshots, "admin-provider-form.png"), fullPage)

	webDo(t, tab, "add the provider",
		chromedp.Click(chromedp.ID("p-submit")),
		chromedp.WaitVisible(chromedp.ID("provider-created")))
	if got := webEval[string](t, tab, `document.getElementById("provider-created-uri").value`); got != s.URL+"/oauth/callback" {
		t.Errorf("redirect URI shown after create: got %q, want %q", got, s.URL+"/oauth/callback")
	}
	if !webEval[bool](t, tab, `!!document.getElementById("copy-redirect-uri")`) {
		t.Errorf("no copy button next to the redirect URI")
	}
	webWaitFor(t, tab, "the list shows the provider", `!!document.querySelector('#provider-list [data-provider-id="corp"]')`)

	// Delete opens a confirmation dialog that says the users' tokens are
	// revoked.
	webDo(t, tab, "click Delete",
		chromedp.Click(chromedp.ID("provider-created-done")),
		chromedp.Click(chromedp.CSS(`[data-provider-id="corp"] .button-danger-quiet`)),
		chromedp.WaitVisible(chromedp.CSS("dialog.confirm")))
	if text := webEval[string](t, tab, `document.querySelector("dialog.confirm").textContent`); !strings.Contains(text, "revokes their tokens") {
		t.Errorf("delete dialog: got %q, want it to say that the users' tokens are revoked", text)
	}
	webDo(t, tab, "cancel the deletion",
		chromedp.Click(chromedp.CSS("dialog.confirm .button-secondary")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog.confirm")))

	// Rotating the credentials needs both the client ID and the secret.
	webDo(t, tab, "edit the provider",
		chromedp.Click(chromedp.CSS(`[data-provider-id="corp"] .card-actions .button-secondary`)),
		chromedp.WaitVisible(chromedp.ID("provider-form")),
		webType("#p-client-id", "another-client"),
		chromedp.Click(chromedp.ID("p-submit")))
	webWaitFor(t, tab, "the form asks for the secret too",
		`document.getElementById("p-client-secret").getAttribute("aria-invalid") === "true" &&
		 document.getElementById("provider-form-errors").textContent.includes("client secret")`)
	webDo(t, tab, "save without rotating",
		webType("#p-client-id", webConsentClientID),
		webType("#p-roles", ""),
		chromedp.Click(chromedp.ID("p-submit")))
	webWaitFor(t, tab, "the provider is saved", `document.getElementById("providers-notice").textContent.includes("Corp Login was saved")`)

	// The MCP server names the provider for its users' tokens.
	webDo(t, tab, "add the calendar MCP server",
		chromedp.Navigate(s.URL+"/admin/mcp-servers"),
		chromedp.WaitVisible(chromedp.ID("add-server")))
	webWaitFor(t, tab, "the server list is loaded", `document.getElementById("servers-status").textContent.includes("No MCP servers yet")`)
	webDo(t, tab, "fill in the MCP server",
		chromedp.Click(chromedp.ID("add-server")),
		chromedp.WaitVisible(chromedp.ID("server-form")),
		webType("#s-display-name", "Calendar"),
		chromedp.SendKeys(chromedp.ID("s-url"), w.calendarURL),
		webSelect("#s-provider", "corp"),
		chromedp.Click(chromedp.ID("s-submit")))
	webWaitFor(t, tab, "the list shows the calendar server", `!!document.querySelector('#server-list [data-server-id="calendar"]')`)
}

// settingsConnect: alice connects Corp Login from Settings → Connectors
// through the popup, fetches the calendar's tools with her token, and
// disconnects.
func (w *webWorld) settingsConnect(t *testing.T, s *servedToolgate) {
	tab := w.browser.NewUser(t, "alice")
	webSignIn(t, tab, s, "alice", "/settings/connectors")
	row := `#connector-list [data-provider-id="corp"]`
	webWaitFor(t, tab, "Corp Login shows as not connected", `document.querySelector('`+row+` .status-text')?.textContent === "Not connected"`)
	if !webEval[bool](t, tab, `document.querySelector('`+row+` img.provider-icon')?.src.startsWith("data:image/svg+xml")`) {
		t.Errorf("the connector row does not show the provider's icon")
	}

	// A popup closed without finishing leaves the row usable.
	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.CSS(row+" .card-actions .button")))
	abandoned := w.browser.AttachWindow(t, tab, windows, "abandoned popup", browserStepTimeout)
	webDo(t, abandoned, "wait for the IdP's login page", chromedp.WaitVisible(chromedp.ID("username")))
	if _, err := chromedp.Run(abandoned, chromedp.Evaluate[chromedp.Void](`window.close()`)); err != nil {
		t.Logf("closing the popup: %v", err)
	}
	webWaitFor(t, tab, "Connect is usable again after the popup closed",
		`!document.querySelector('`+row+` .card-actions .button').disabled && document.querySelector('`+row+` .row-notice').textContent.includes("was closed")`)

	windows = webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect again", chromedp.Click(chromedp.CSS(row+" .card-actions .button")))
	popup := w.browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)
	w.consentInPopup(t, popup, "alice", true)
	webWaitFor(t, tab, "Corp Login shows as connected", `document.querySelector('`+row+` .status-text')?.textContent === "Connected"`)
	w.screenshot(t, tab, "settings-connectors.png")
	w.screenshotNarrow(t, tab, "settings-connectors-360.png", `document.querySelector('`+row+` .status-text')?.textContent === "Connected"`)

	// With her own token, alice fetches the catalog and tests the server.
	webDo(t, tab, "open the MCP servers",
		chromedp.Navigate(s.URL+"/admin/mcp-servers"),
		chromedp.WaitVisible(chromedp.CSS(`[data-server-id="calendar"]`)))
	server := `[data-server-id="calendar"]`
	clickButton := func(label string) {
		t.Helper()
		js := fmt.Sprintf(`[...document.querySelectorAll('%s .card-actions button')].find((b) => b.textContent === %q)`, server, label)
		id := webEval[string](t, tab, js+`.id = "test-target-button"`)
		if id == "" {
			t.Fatalf("no %s button", label)
		}
		webDo(t, tab, "click "+label, chromedp.Click(chromedp.ID("test-target-button")))
	}
	clickButton("Fetch tools")
	webWaitFor(t, tab, "the catalog lists list_events", `!!document.querySelector('`+server+` [data-tool-name="calendar__list_events"]')`)
	webEval[string](t, tab, `document.getElementById("test-target-button")?.removeAttribute("id") ?? ""`)
	clickButton("Test connection")
	webWaitFor(t, tab, "the test reports a working connection", `document.querySelector('`+server+` .test-result').textContent.includes("Connection works")`)

	webDo(t, tab, "open the connectors again",
		chromedp.Navigate(s.URL+"/settings/connectors"),
		chromedp.WaitVisible(chromedp.CSS(row+" .button-danger-quiet")),
		chromedp.Click(chromedp.CSS(row+" .button-danger-quiet")),
		chromedp.WaitVisible(chromedp.CSS("dialog.confirm")))
	if text := webEval[string](t, tab, `document.querySelector("dialog.confirm").textContent`); !strings.Contains(text, "revoke") {
		t.Errorf("disconnect dialog: got %q, want it to say the access is revoked", text)
	}
	webDo(t, tab, "confirm", chromedp.Click(chromedp.CSS("dialog.confirm .button-danger")))
	webWaitFor(t, tab, "Corp Login is disconnected",
		`["Not connected", "Disconnected"].includes(document.querySelector('`+row+` .status-text')?.textContent) &&
		 document.querySelector('`+row+` .card-actions .button').textContent.startsWith("Connect")`)

	// The audit trail shows the consent, and its filters narrow it down.
	webDo(t, tab, "open the audit trail", chromedp.Navigate(s.URL+"/admin/audit"))
	webWaitFor(t, tab, "the audit trail lists events for alice",
		`[...document.querySelectorAll("#audit-rows tr")].some((tr) => tr.textContent.includes("alice") && tr.textContent.includes("corp"))`)
	webDo(t, tab, "filter by a user without events",
		webType("#f-user", "nobody"),
		chromedp.Click(chromedp.CSS("#audit-filters button[type=submit]")))
	webWaitFor(t, tab, "the filter leaves no events",
		`document.querySelectorAll("#audit-rows tr").length === 0 && document.getElementById("audit-status").textContent.includes("No events")`)
	if loc, _ := chromedp.Run(tab, chromedp.Location()); !strings.Contains(loc, "user_id=nobody") {
		t.Errorf("audit location after filtering: got %s, want the filter in the query", loc)
	}
}

// askCalendar opens the chat as user, asks for the calendar and waits
// for the consent card.
func (w *webWorld) askCalendar(t *testing.T, s *servedToolgate, user string) context.Context {
	t.Helper()
	tab := w.browser.NewUser(t, user)
	webSignIn(t, tab, s, user, "/")
	webWaitFor(t, tab, "the chat is ready", `document.querySelector(".chat")?.dataset.ready === "true"`)
	webDo(t, tab, "ask for the calendar",
		chromedp.SendKeys(chromedp.ID("message"), "what's on my calendar?"),
		chromedp.Click(chromedp.ID("send")))
	webWaitFor(t, tab, "the consent card appears", `!!document.querySelector(".consent-card .consent-connect")`)
	webWaitFor(t, tab, "the turn stops streaming", `!document.getElementById("send").disabled`)
	return tab
}

// webWantAnswer waits for the resumed turn's answer in the same assistant
// block as the consent card, without a second user message.
func webWantAnswer(t *testing.T, tab context.Context, user string) {
	t.Helper()
	webWaitFor(t, tab, "the calendar call is done", `document.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status === "done"`)
	webWaitFor(t, tab, "the answer quotes "+user+"'s calendar and is finished",
		`[...document.querySelectorAll(".msg-assistant .msg-text")].some((el) => el.textContent.includes("1:1 with `+user+`'s manager")) &&
		 !document.getElementById("send").disabled`)
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-user").length`); n != 1 {
		t.Errorf("user messages: got %d, want 1: the turn resumes without typing again", n)
	}
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-assistant").length`); n != 1 {
		t.Errorf("assistant blocks: got %d, want 1: the resumed answer continues the same message", n)
	}
}

// chatConsent: bob asks, connects from the card through the popup, and
// the same turn resumes.
func (w *webWorld) chatConsent(t *testing.T, s *servedToolgate) {
	tab := w.browser.NewUser(t, "bob")
	webSignIn(t, tab, s, "bob", "/")
	webWaitFor(t, tab, "the model picker shows the default scripted model, labelled as a demo",
		`!document.getElementById("model-field").hidden &&
		 [...document.querySelectorAll("#model option")].some((o) => o.value === "scripted" && o.selected && o.textContent.includes("(demo)"))`)
	webDo(t, tab, "ask for the calendar",
		chromedp.SendKeys(chromedp.ID("message"), "what's on my calendar?"),
		chromedp.Click(chromedp.ID("send")))
	webWaitFor(t, tab, "the consent card appears", `!!document.querySelector(".consent-card .consent-connect")`)
	webWaitFor(t, tab, "the tool call awaits authorization",
		`document.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status === "awaiting_authorization"`)
	card := webEval[string](t, tab, `document.querySelector(".consent-card").textContent`)
	if !strings.Contains(card, "Corp Login") {
		t.Errorf("consent card: got %q, want it to name Corp Login", card)
	}
	if !webEval[bool](t, tab, `!!document.querySelector(".consent-card img.provider-icon")`) {
		t.Errorf("consent card has no provider icon")
	}
	if !webEval[bool](t, tab, `!!document.querySelector(".msg-assistant .consent-card")`) {
		t.Errorf("consent card is not inside the assistant's message")
	}
	w.screenshot(t, tab, "chat-consent-card.png")

	// Consent URLs open only over https, or over http on a loopback host.
	checkURLs := `import(document.querySelector('script[type="module"]').src.replace(/chat\.js$/, "consent.js")).then((m) => [
		"https://idp.example.com/authorize", "http://127.0.0.1:8080/connect/x", "http://localhost/connect/x", "http://[::1]:8080/x",
		"http://idp.example.com/authorize", "javascript:alert(1)", "data:text/html,x", "https://user:pw@idp.example.com/",
		"http://127.0.0.1.example.com/", "ftp://127.0.0.1/",
	].map((u) => m.isSafeConsentURL(u)))`
	safe, err := chromedp.Run(tab, chromedp.Evaluate[[]bool](checkURLs, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, true, false, false, false, false, false, false}; fmt.Sprint(safe) != fmt.Sprint(want) {
		t.Errorf("isSafeConsentURL: got %v, want %v", safe, want)
	}
	w.screenshotNarrow(t, tab, "chat-consent-card-360.png", `!!document.querySelector(".consent-card .consent-connect")`)

	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.CSS(".consent-card .consent-connect")))
	popup := w.browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)
	w.consentInPopup(t, popup, "bob", true)
	webWantAnswer(t, tab, "bob")
	if text := webEval[string](t, tab, `document.querySelector(".consent-card").textContent`); !strings.Contains(text, "Corp Login connected") {
		t.Errorf("consent card after connecting: got %q, want it to say Corp Login is connected", text)
	}
	w.screenshot(t, tab, "chat-resumed.png")
}

// chatBlockedPopup: Chromium's popup blocker blocks carol's popup, and
// the card offers a link that opens the consent in a new tab. The blocker
// stops window.open without a recent user gesture, so the test reloads
// the page, which ends the activation that clicking Send gave it, and
// clicks Connect from a script.
func (w *webWorld) chatBlockedPopup(t *testing.T, s *servedToolgate) {
	tab := w.askCalendar(t, s, "carol")
	webDo(t, tab, "click Connect without a user gesture",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(".consent-card .consent-connect")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(".consent-card .consent-connect").click()`))
	webWaitFor(t, tab, "the card offers a new tab", `!!document.querySelector(".consent-card a.consent-new-tab")`)
	if loc, _ := chromedp.Run(tab, chromedp.Location()); !strings.HasPrefix(loc, s.URL+"/?session=") {
		t.Errorf("chat location after the blocked popup: got %s, want the chat", loc)
	}

	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "open the consent in a new tab", chromedp.Click(chromedp.CSS(".consent-card a.consent-new-tab")))
	newTab := w.browser.AttachWindow(t, tab, windows, "consent tab", browserStepTimeout)
	w.consentInPopup(t, newTab, "carol", false)
	w.screenshot(t, newTab, "oauth-complete.png")
	webWantAnswer(t, tab, "carol")
}

// chatReload: dave reloads while the consent is pending; the card comes
// back from the session and Connect asks for a fresh consent.
func (w *webWorld) chatReload(t *testing.T, s *servedToolgate) {
	tab := w.askCalendar(t, s, "dave")
	webDo(t, tab, "reload", chromedp.Reload())
	webWaitFor(t, tab, "the card is back after the reload", `!!document.querySelector(".consent-card .consent-connect")`)
	if n := webEval[int](t, tab, `document.querySelectorAll(".consent-card").length`); n != 1 {
		t.Errorf("consent cards after the reload: got %d, want 1", n)
	}

	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.CSS(".consent-card .consent-connect")))
	popup := w.browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)
	w.consentInPopup(t, popup, "dave", true)
	webWantAnswer(t, tab, "dave")

	webDo(t, tab, "reload after the answer", chromedp.Reload())
	webWaitFor(t, tab, "the conversation is shown again",
		`[...document.querySelectorAll(".msg-assistant .msg-text")].some((el) => el.textContent.includes("1:1 with dave's manager"))`)
	if n := webEval[int](t, tab, `document.querySelectorAll(".consent-card").length`); n != 0 {
		t.Errorf("consent cards after the answer and a reload: got %d, want 0: a handled interrupt never comes back", n)
	}
}

// chatDismiss: frank dismisses the card, and the turn continues without
// his account.
func (w *webWorld) chatDismiss(t *testing.T, s *servedToolgate) {
	tab := w.askCalendar(t, s, "frank")
	webDo(t, tab, "click Dismiss", chromedp.Click(chromedp.CSS(".consent-card .consent-dismiss")))
	webWaitFor(t, tab, "the calendar call is not authorized",
		`document.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status === "not_authorized"`)
	webWaitFor(t, tab, "the answer says the user did not authorize the call",
		`[...document.querySelectorAll(".msg-assistant .msg-text")].some((el) => el.textContent.includes("did not authorize")) &&
		 !document.getElementById("send").disabled`)
	if text := webEval[string](t, tab, `document.querySelector(".consent-card").textContent`); !strings.Contains(text, "not connected") {
		t.Errorf("dismissed card: got %q, want it to say Corp Login is not connected", text)
	}
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-assistant").length`); n != 1 {
		t.Errorf("assistant blocks: got %d, want 1", n)
	}
}

// chatExpiredPause: erin connects after the paused turn expired; the
// resume fails, the page explains why in plain words, and resending works.
func (w *webWorld) chatExpiredPause(t *testing.T, s *servedToolgate) {
	w.setupByAPI(t, s)
	tab := w.askCalendar(t, s, "erin")
	time.Sleep(4 * time.Second) // --pause-ttl is 3s

	windows := webtest.WaitWindow(tab)
	webDo(t, tab, "click Connect", chromedp.Click(chromedp.CSS(".consent-card .consent-connect")))
	popup := w.browser.AttachWindow(t, tab, windows, "consent popup", browserStepTimeout)
	w.consentInPopup(t, popup, "erin", true)
	webWaitFor(t, tab, "the page says the answer waited too long", `!!document.querySelector(".pause-expired .resend-message")`)
	if text := webEval[string](t, tab, `document.querySelector(".pause-expired").textContent`); !strings.Contains(text, "waited too long") || !strings.Contains(text, "send the message again") {
		t.Errorf("expired pause notice: got %q, want plain words that offer to send the message again", text)
	}

	// erin connected meanwhile, so the resent message runs the calendar
	// call with her token.
	webDo(t, tab, "send the message again", chromedp.Click(chromedp.CSS(".pause-expired .resend-message")))
	webWaitFor(t, tab, "the resent message gets a new answer with the calendar",
		`document.querySelectorAll(".msg-user").length === 2 &&
		 [...document.querySelectorAll(".msg-assistant")].slice(1).some((block) =>
		   block.querySelector('.tool-call[data-tool-name="calendar__list_events"]')?.dataset.status === "done" &&
		   block.textContent.includes("calendar of")) &&
		 !document.getElementById("send").disabled`)
	if n := webEval[int](t, tab, `document.querySelectorAll(".msg-assistant:last-of-type .notice-error").length`); n != 0 {
		t.Errorf("the resent message's answer shows %d errors", n)
	}
}

// setupByAPI registers the provider and the calendar on s through the
// API, and connects alice's account, so that the calendar's catalog can
// be fetched with her token.
func (w *webWorld) setupByAPI(t *testing.T, s *servedToolgate) {
	t.Helper()
	alice := devClient(t, s, "alice")
	mustStatus := func(method, path, body string, want int) string {
		t.Helper()
		status, got := do(t, alice, s, method, path, body)
		if status != want {
			t.Fatalf("%s %s: got %d %s, want %d", method, path, status, got, want)
		}
		return got
	}
	mustStatus(http.MethodPost, "/api/v1/admin/providers", `{"id":"corp","display_name":"Corp Login","type":"custom","client_id":"`+
		webConsentClientID+`","client_secret":"`+webConsentSecret+`","scopes":["openid"],"icon":"`+webIcon+
		`","discovery_url":"`+w.idp.Issuer+`/.well-known/openid-configuration"}`, http.StatusCreated)
	mustStatus(http.MethodPost, "/api/v1/admin/mcp-servers",
		`{"id":"calendar","display_name":"Calendar","url":"`+w.calendarURL+`","provider_id":"corp"}`, http.StatusCreated)

	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := json.Unmarshal([]byte(mustStatus(http.MethodPost, "/api/v1/connectors/corp/consent", "{}", http.StatusOK)), &started); err != nil {
		t.Fatal(err)
	}
	resp, err := alice.Get(started.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	toIdP, err := resp.Location()
	if err != nil {
		t.Fatalf("GET %s: got status %d without a redirect to the IdP", started.AuthorizationURL, resp.StatusCode)
	}
	callback := w.idp.Login(t, alice, toIdP.String(), "alice", "alice-pw", true)
	resp, err = alice.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mustStatus(http.MethodPost, "/api/v1/admin/mcp-servers/calendar/refresh-tools", "", http.StatusOK)
}

func webWriteScreenshot(t *testing.T, path string, png []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWebUIOIDCSignIn signs in to the pages through the OpenID provider's
// own login page, and signs out through the provider's end-session page,
// which the pages' form-action policy must allow the sign-out form to
// reach.
func TestWebUIOIDCSignIn(t *testing.T) {
	testpeers.EnsureInstalled(t)
	browser := webtest.Start(t)
	port := freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	idp := testpeers.StartIDP(t, testpeers.IDPConfig{
		Clients: []testpeers.Client{{ID: "toolgate", Secret: "toolgate-signin-secret", RedirectURIs: []string{base + "/auth/callback"}}},
		Users:   []testpeers.User{{ID: "alice", Password: "alice-pw", Name: "Alice Example", Roles: []string{"toolgate-admin"}}},
	})
	t.Setenv("TOOLGATE_OIDC_CLIENT_SECRET", "toolgate-signin-secret")
	s := startServeOn(t, "127.0.0.1:"+strconv.Itoa(port),
		"--database", filepath.Join(t.TempDir(), "toolgate.db"), "--auth", "oidc",
		"--oidc-issuer", idp.Issuer, "--oidc-client-id", "toolgate")

	tab := browser.NewUser(t, "alice")
	webDo(t, tab, "sign in at the IdP",
		chromedp.Navigate(s.URL+"/admin/audit"),
		chromedp.WaitVisible(chromedp.ID("username")),
		webType("#username", "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-pw"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.CSS(".site-header")))
	if loc, _ := chromedp.Run(tab, chromedp.Location()); loc != s.URL+"/admin/audit" {
		t.Errorf("after sign-in: at %s, want %s", loc, s.URL+"/admin/audit")
	}
	if name := webEval[string](t, tab, `document.getElementById("signed-in-as").textContent`); name != "Alice Example" {
		t.Errorf("header: got %q, want the name from the ID token", name)
	}

	// The audit page may still be re-rendering, which can replace the node
	// a chromedp.Click resolved; a click from the page itself cannot miss.
	webDo(t, tab, "sign out", chromedp.WaitVisible(chromedp.CSS(".sign-out button")))
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(document.querySelector(".sign-out button").click(), true)`)); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	webWaitFor(t, tab, "the browser reaches the IdP's end-session page", `location.origin === `+jsString(idp.Issuer))
	webDo(t, tab, "read the identity after signing out", chromedp.Navigate(s.URL+"/api/v1/me"))
	if body := webEval[string](t, tab, `document.body.innerText`); !strings.Contains(body, "authentication_required") {
		t.Errorf("GET /api/v1/me after signing out: got %s, want a 401 problem", body)
	}
}
