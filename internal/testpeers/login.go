package testpeers

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// maxLoginSteps bounds the requests Login makes, so a redirect loop fails the
// test instead of hanging it.
const maxLoginSteps = 20

// Login signs a user in through the IdP's own login and consent pages, as a
// browser would. It requests authorizeURL with client, follows redirects and
// submits the login form with username and password. On the consent page it
// presses approve, or deny when approve is false. client should have a cookie
// jar, so that the IdP's session and interaction cookies persist. A login or
// consent page that the IdP skips, for example because the session already
// exists, is not an error.
//
// Login returns the redirect to the client's redirect_uri without requesting
// it, so the caller decides where to deliver the code or error. It fails the
// test when the IdP rejects the credentials, renders an error page, or
// shows a page Login does not recognise.
func (p *IDP) Login(t testing.TB, client *http.Client, authorizeURL, username, password string, approve bool) *url.URL {
	t.Helper()

	start, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatalf("testpeers: parse authorize URL %q: %v", authorizeURL, err)
	}
	issuer, err := url.Parse(p.Issuer)
	if err != nil {
		t.Fatalf("testpeers: parse issuer %q: %v", p.Issuer, err)
	}
	redirectURI := start.Query().Get("redirect_uri")

	// A copy of client that returns redirects instead of following them.
	browser := *client
	browser.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}

	req := newGET(t, start)
	loggedIn := false
	for step := 0; step < maxLoginSteps; step++ {
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("testpeers: login: %s %s: %v", req.Method, req.URL, err)
		}
		body := string(readBody(t, resp))

		if isRedirect(resp.StatusCode) {
			next, err := resp.Location()
			if err != nil {
				t.Fatalf("testpeers: login: HTTP %d from %s without a usable Location: %v", resp.StatusCode, req.URL, err)
			}
			if isClientRedirect(next, issuer, redirectURI) {
				return next
			}
			req = newGET(t, next)
			continue
		}

		forms := parseForms(body)
		switch {
		case findForm(forms, "login") != nil:
			if loggedIn {
				t.Fatalf("testpeers: login: the IdP rejected username %q (HTTP %d):\n%s", username, resp.StatusCode, body)
			}
			loggedIn = true
			form := findForm(forms, "login")
			req = form.submit(t, resp.Request.URL, "login", map[string]string{"username": username, "password": password})

		case findForm(forms, "approve") != nil:
			button := "deny"
			if approve {
				button = "approve"
			}
			form := findForm(forms, button)
			if form == nil {
				t.Fatalf("testpeers: login: the consent page has no button %q:\n%s", button, body)
			}
			req = form.submit(t, resp.Request.URL, button, nil)

		default:
			t.Fatalf("testpeers: login: unexpected page from %s (HTTP %d):\n%s", req.URL, resp.StatusCode, body)
		}
	}

	t.Fatalf("testpeers: login: no redirect to the client after %d requests", maxLoginSteps)
	return nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// isClientRedirect reports whether target leaves the IdP for the client: it
// matches the authorization request's redirect_uri, or, when the request
// carries none (as with a pushed authorization request), points off the
// issuer's origin.
func isClientRedirect(target, issuer *url.URL, redirectURI string) bool {
	if redirectURI != "" {
		withoutQuery := *target
		withoutQuery.RawQuery = ""
		withoutQuery.Fragment = ""
		return withoutQuery.String() == redirectURI
	}
	return target.Scheme != issuer.Scheme || target.Host != issuer.Host
}

func newGET(t testing.TB, target *url.URL) *http.Request {
	t.Helper()

	req, err := http.NewRequest(http.MethodGet, target.String(), nil)
	if err != nil {
		t.Fatalf("testpeers: login: build request to %s: %v", target, err)
	}
	return req
}

// htmlForm is a form found in a page by parseForms.
type htmlForm struct {
	method string
	action string
	fields []htmlField
}

// htmlField is an input or button of a form.
type htmlField struct {
	tag, kind, id, name, value string
	checked                    bool
}

var (
	formPattern      = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	fieldPattern     = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attributePattern = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
)

// parseForms extracts the forms of page. It understands the simple markup
// that the IdP's pages use: no nested forms, no textarea or select, and no
// fields outside their form.
func parseForms(page string) []htmlForm {
	var forms []htmlForm
	for _, m := range formPattern.FindAllStringSubmatch(page, -1) {
		attrs := parseAttributes(m[1])
		form := htmlForm{method: strings.ToUpper(attrs["method"]), action: attrs["action"]}
		if form.method == "" {
			form.method = http.MethodGet
		}
		for _, f := range fieldPattern.FindAllStringSubmatch(m[2], -1) {
			fieldAttrs := parseAttributes(f[2])
			_, checked := fieldAttrs["checked"]
			form.fields = append(form.fields, htmlField{
				tag:     strings.ToLower(f[1]),
				kind:    strings.ToLower(fieldAttrs["type"]),
				id:      fieldAttrs["id"],
				name:    fieldAttrs["name"],
				value:   fieldAttrs["value"],
				checked: checked,
			})
		}
		forms = append(forms, form)
	}
	return forms
}

func parseAttributes(tag string) map[string]string {
	attrs := make(map[string]string)
	for _, m := range attributePattern.FindAllStringSubmatch(tag, -1) {
		attrs[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3] + m[4])
	}
	return attrs
}

// findForm returns the form that contains the element with the id, or nil.
func findForm(forms []htmlForm, id string) *htmlForm {
	for i := range forms {
		for _, f := range forms[i].fields {
			if f.id == id {
				return &forms[i]
			}
		}
	}
	return nil
}

// submit builds the request a browser sends when the button with id
// buttonID is pressed, after the fields with the ids in inputs are filled in.
// pageURL resolves a relative action.
func (f *htmlForm) submit(t testing.TB, pageURL *url.URL, buttonID string, inputs map[string]string) *http.Request {
	t.Helper()

	values := url.Values{}
	for _, field := range f.fields {
		if field.name == "" {
			continue
		}
		if value, ok := inputs[field.id]; ok {
			values.Add(field.name, value)
			continue
		}
		isButton := field.tag == "button" || field.kind == "submit" || field.kind == "image"
		switch {
		case isButton:
			if field.id == buttonID {
				values.Add(field.name, field.value)
			}
		case field.kind == "checkbox" || field.kind == "radio":
			if field.checked {
				values.Add(field.name, field.value)
			}
		default:
			values.Add(field.name, field.value)
		}
	}

	action, err := pageURL.Parse(f.action)
	if err != nil {
		t.Fatalf("testpeers: login: form action %q: %v", f.action, err)
	}

	if f.method != http.MethodPost {
		action.RawQuery = values.Encode()
		return newGET(t, action)
	}
	req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatalf("testpeers: login: build request to %s: %v", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
