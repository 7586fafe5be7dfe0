package authn_test

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// newDevEnv starts a Toolgate test server in dev mode with the users in
// devUsers (ParseDevUsers syntax). A nil st means a new SQLite store.
func newDevEnv(t *testing.T, st *store.Store, devUsers string) *env {
	t.Helper()
	return newDevEnvWith(t, st, devUsers, authn.Options{})
}

func newDevEnvWith(t *testing.T, st *store.Store, devUsers string, opts authn.Options) *env {
	t.Helper()
	if st == nil {
		st = storetest.NewSQLite(t)
	}
	users, err := authn.ParseDevUsers(devUsers)
	if err != nil {
		t.Fatal(err)
	}
	opts.Mode, opts.DevUsers = authn.ModeDev, users
	return newEnv(t, st, opts)
}

// signInDev posts the dev sign-in form for user as a same-origin browser
// would and returns the final response.
func (e *env) signInDev(t *testing.T, client *http.Client, user, returnTo string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"user": {user}, "return_to": {returnTo}}
	h := headerWith("Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin", "Origin", e.URL)
	return do(t, client, http.MethodPost, e.URL+"/auth/login", strings.NewReader(form.Encode()), h)
}

func TestParseDevUsers(t *testing.T) {
	tests := []struct {
		in      string
		want    []authn.DevUser
		wantErr string
	}{
		{in: "", want: nil},
		{in: "alice:admin,bob", want: []authn.DevUser{{Name: "alice", Admin: true}, {Name: "bob"}}},
		{in: " alice : admin + ops , bob:audit ", want: []authn.DevUser{{Name: "alice", Admin: true, Roles: []string{"ops"}}, {Name: "bob", Roles: []string{"audit"}}}},
		{in: "carol@example.test:team:a", want: []authn.DevUser{{Name: "carol@example.test", Roles: []string{"team:a"}}}},
		{in: "alice,", wantErr: "has no name"},
		{in: ":admin", wantErr: "has no name"},
		{in: "alice,alice:admin", wantErr: "listed twice"},
		{in: "al ice", wantErr: "is invalid"},
		{in: "alice<script>", wantErr: "is invalid"},
		{in: "alice:", wantErr: "empty role list"},
		{in: "alice:ops+", wantErr: "invalid role"},
		{in: "alice:bad role", wantErr: "invalid role"},
		{in: "alice:ops+ops", wantErr: "twice"},
		{in: "alice:admin+admin", wantErr: "twice"},
		{in: strings.Repeat("a", 65), wantErr: "is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := authn.ParseDevUsers(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDevUsers(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDevUsers(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDevUsers(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckDevListen(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"[::1]:8080", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"192.168.1.10:8080", false},
		{"toolgate.example.test:8080", false},
		{"localhost.example.test:8080", false},
		{"127.0.0.1", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := authn.CheckDevListen(tt.addr)
			if (err == nil) != tt.ok {
				t.Errorf("CheckDevListen(%q) = %v, want ok %v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestDevSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newDevEnv(t, st, "alice:admin+ops,bob")

		// The sign-in page lists the users as buttons and keeps return_to.
		resp, body := do(t, http.DefaultClient, http.MethodGet, e.URL+"/auth/login?return_to=/whoami", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /auth/login: status %d, want 200", resp.StatusCode)
		}
		for _, want := range []string{
			`<button type="submit" name="user" value="alice">alice</button> (toolgate-admin, ops)`,
			`<button type="submit" name="user" value="bob">bob</button>`,
			`<input type="hidden" name="return_to" value="/whoami">`,
			`<form method="post" action="/auth/login">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("sign-in page lacks %s; page %s", want, body)
			}
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
			t.Errorf("sign-in page has a script or inline style: %s", body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
		}

		// Alice signs in and lands on return_to as an admin.
		aliceBrowser := browser(t)
		resp, _ = e.signInDev(t, aliceBrowser, "alice", "/whoami")
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/whoami" {
			t.Fatalf("dev sign-in ended at %s with status %d, want /whoami and 200", resp.Request.URL, resp.StatusCode)
		}
		got := e.whoamiOf(t, aliceBrowser, nil)
		if got.UserID != "alice" || got.Method != authn.MethodSession || !got.IsAdmin || !slices.Equal(got.Roles, []string{"toolgate-admin", "ops"}) {
			t.Errorf("alice identity = %+v, want a session with roles [toolgate-admin ops] and admin", got)
		}
		var method string
		if err := st.DB().QueryRow(`SELECT auth_method FROM browser_sessions WHERE user_id = 'alice'`).Scan(&method); err != nil || method != "dev" {
			t.Errorf("alice's session auth_method = %q, %v; want dev", method, err)
		}
		if got := e.signIns(t, "dev", "success"); got != 1 {
			t.Errorf("dev sign-ins counted = %v, want 1", got)
		}

		// Bob has no roles.
		bobBrowser := browser(t)
		e.signInDev(t, bobBrowser, "bob", "/")
		if got := e.whoamiOf(t, bobBrowser, nil); got.UserID != "bob" || got.IsAdmin || len(got.Roles) != 0 {
			t.Errorf("bob identity = %+v, want no roles", got)
		}

		// An unknown user gets the error page.
		resp, body = e.signInDev(t, browser(t), "mallory", "/")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no dev user with that name") {
			t.Errorf("unknown dev user: status %d, page %q; want 400 with the reason", resp.StatusCode, body)
		}

		// A form post from another site is rejected.
		form := strings.NewReader(url.Values{"user": {"alice"}}.Encode())
		resp, _ = do(t, browser(t), http.MethodPost, e.URL+"/auth/login", form,
			headerWith("Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example.test"))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site dev sign-in: status %d, want 403", resp.StatusCode)
		}
		if n := countRows(t, st, "browser_sessions"); n != 2 {
			t.Errorf("sessions = %d, want 2 (alice, bob)", n)
		}

		// Logout needs the origin check too, then ends the session.
		resp, body = do(t, aliceBrowser, http.MethodPost, e.URL+"/auth/logout", nil, nil)
		if resp.StatusCode != http.StatusForbidden || decodeProblem(t, resp, body).Code != "csrf_failed" {
			t.Fatalf("logout without origin headers: status %d, want 403 csrf_failed", resp.StatusCode)
		}
		e.whoamiOf(t, aliceBrowser, nil)
		oldCookie := e.sessionCookie(aliceBrowser)
		resp, body = do(t, aliceBrowser, http.MethodPost, e.URL+"/auth/logout", nil, sameOrigin)
		if resp.StatusCode != http.StatusOK || body != "home page" {
			t.Fatalf("logout: status %d, body %q; want the home page", resp.StatusCode, body)
		}
		resp, _ = do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Cookie", "toolgate_session="+oldCookie))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /whoami with the signed-out cookie: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestDevSignInReplacesSession(t *testing.T) {
	e := newDevEnv(t, nil, "alice,bob")
	client := browser(t)
	e.signInDev(t, client, "alice", "/")
	first := e.sessionCookie(client)
	e.signInDev(t, client, "bob", "/")

	if got := e.whoamiOf(t, client, nil); got.UserID != "bob" {
		t.Errorf("user after the second sign-in = %q, want bob", got.UserID)
	}
	if n := countRows(t, e.st, "browser_sessions"); n != 1 {
		t.Errorf("sessions = %d, want 1: the first sign-in's session should be gone", n)
	}
	resp, _ := do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Cookie", "toolgate_session="+first))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("first session's cookie: status %d, want 401", resp.StatusCode)
	}
}

func TestDevSignInCustomAdminRole(t *testing.T) {
	e := newDevEnvWith(t, nil, "alice:admin", authn.Options{AdminRole: "platform-admins"})
	client := browser(t)
	e.signInDev(t, client, "alice", "/")

	got := e.whoamiOf(t, client, nil)
	if !slices.Equal(got.Roles, []string{"platform-admins"}) || !got.IsAdmin {
		t.Errorf("identity = %+v, want roles [platform-admins] and admin", got)
	}
	if resp, _ := do(t, client, http.MethodGet, e.URL+"/admin", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin: status %d, want 200", resp.StatusCode)
	}
}

func TestDevReturnToStaysLocal(t *testing.T) {
	e := newDevEnv(t, nil, "alice")
	tests := []struct{ returnTo, wantPath string }{
		{"/whoami", "/whoami"},
		{"//evil.example.test/", "/"},
		{`/\evil.example.test/`, "/"},
		{"https://evil.example.test/", "/"},
		{"/\t/evil.example.test/", "/"},
		{"whoami", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.returnTo, func(t *testing.T) {
			client := browser(t)
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, _ := e.signInDev(t, client, "alice", tt.returnTo)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.wantPath {
				t.Errorf("sign-in with return_to %q: status %d, Location %q; want 303 to %q",
					tt.returnTo, resp.StatusCode, resp.Header.Get("Location"), tt.wantPath)
			}
		})
	}
}

func TestDevModeRoutes(t *testing.T) {
	e := newDevEnv(t, nil, "alice")
	if resp, _ := do(t, http.DefaultClient, http.MethodGet, e.URL+"/auth/callback?code=x&state=y", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /auth/callback in dev mode: status %d, want 404", resp.StatusCode)
	}
}
