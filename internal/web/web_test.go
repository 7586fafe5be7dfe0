package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/web"
)

// newUI returns a handler with the UI's routes, where the X-Test-User
// header signs a request in: "admin" as an admin, anything else as a
// plain user.
func newUI(t *testing.T, opts *web.Options) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	web.New(opts).Routes(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch user := r.Header.Get("X-Test-User"); user {
		case "":
		case "admin":
			r = r.WithContext(authn.WithIdentity(r.Context(), &authn.Identity{
				UserID: "alice", Name: "Alice", Roles: []string{authn.DefaultAdminRole}, Method: authn.MethodSession,
			}))
		default:
			r = r.WithContext(authn.WithIdentity(r.Context(), &authn.Identity{UserID: user, Method: authn.MethodSession}))
		}
		mux.ServeHTTP(w, r)
	})
}

func get(t *testing.T, h http.Handler, user, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

func TestPagesNeedSignIn(t *testing.T) {
	h := newUI(t, nil)
	for _, path := range []string{"/", "/settings/connectors", "/admin/connectors", "/admin/mcp-servers", "/admin/audit?outcome=failed"} {
		t.Run(path, func(t *testing.T) {
			resp, _ := get(t, h, "", path, nil)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status: got %d, want 303", resp.StatusCode)
			}
			want := "/auth/login?return_to=" + strings.NewReplacer("/", "%2F", "?", "%3F", "=", "%3D").Replace(path)
			if got := resp.Header.Get("Location"); got != want {
				t.Errorf("Location: got %q, want %q", got, want)
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	h := newUI(t, &web.Options{IssuerURL: "https://login.example.com/realms/main"})
	resp, body := get(t, h, "bob", "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: https:",
		"connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self' https://login.example.com",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows inline or eval'd code", csp)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) || strings.Contains(body, "style=") {
		t.Errorf("page has an inline script or style attribute, which the policy blocks:\n%s", body)
	}
	if !strings.Contains(body, `<form class="sign-out" method="post" action="/auth/logout">`) {
		t.Errorf("page has no sign-out form")
	}
}

func TestAdminLinksAndPages(t *testing.T) {
	h := newUI(t, nil)

	_, body := get(t, h, "bob", "/settings/connectors", nil)
	if strings.Contains(body, `href="/admin/`) {
		t.Errorf("a plain user's page links to the admin pages")
	}
	resp, body := get(t, h, "bob", "/admin/connectors", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Administrators only") {
		t.Errorf("admin page for a plain user: got %d, want 403 with the explanation", resp.StatusCode)
	}

	for _, path := range []string{"/admin/connectors", "/admin/mcp-servers", "/admin/audit"} {
		resp, body := get(t, h, "admin", path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s as admin: got %d, want 200", path, resp.StatusCode)
		}
		if !strings.Contains(body, `href="`+path+`" aria-current="page"`) {
			t.Errorf("GET %s: the navigation does not mark the page as current", path)
		}
	}
}

// TestEveryLabelHasAControl checks the templates: each label's for names
// an element of the page, so that every control is labelled.
func TestEveryLabelHasAControl(t *testing.T) {
	h := newUI(t, nil)
	labelFor := regexp.MustCompile(`<label[^>]* for="([^"]+)"`)
	for _, path := range []string{"/", "/settings/connectors", "/admin/connectors", "/admin/mcp-servers", "/admin/audit"} {
		_, body := get(t, h, "admin", path, nil)
		for _, m := range labelFor.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(body, `id="`+m[1]+`"`) {
				t.Errorf("%s: label for %q names no element", path, m[1])
			}
		}
	}
}

func TestAssets(t *testing.T) {
	h := newUI(t, nil)
	_, page := get(t, h, "bob", "/", nil)
	m := regexp.MustCompile(`src="(/assets/([0-9a-f]{12})/js/chat\.js)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page does not load a versioned chat.js:\n%s", page)
	}
	url, version := m[1], m[2]

	resp, body := get(t, h, "", url, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200", url, resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type: got %q, want text/javascript", got)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("Cache-Control of the current version: got %q, want a long immutable cache", got)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(body, "import") {
		t.Fatalf("ETag %q or body %.40q missing", etag, body)
	}

	resp, _ = get(t, h, "", url, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-None-Match: got %d, want 304", resp.StatusCode)
	}

	stale := strings.Replace(url, version, "000000000000", 1)
	resp, _ = get(t, h, "", stale, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("GET of another version: got %d with Cache-Control %q, want 200 with no-cache", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	for _, path := range []string{"/assets/" + version + "/vendor/README.md", "/assets/" + version + "/nothing.js"} {
		if resp, _ := get(t, h, "", path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, resp.StatusCode)
		}
	}
	resp, _ = get(t, h, "", "/assets/oauth-pages.css", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET /assets/oauth-pages.css: got %d %q with Cache-Control %q, want 200 text/css with no-cache",
			resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}

	htmx := "/assets/" + version + "/vendor/htmx-2.0.11.min.js"
	if resp, _ := get(t, h, "", htmx, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: got %d, want 200", htmx, resp.StatusCode)
	}
}
