// Package oidcprovidertest drives the login and consent pages of an
// oidcprovider.Provider as a browser does, for tests: it follows
// redirects, keeps cookies in the client's jar, and fills and posts the
// pages' forms.
//
// Its HTML parsing reads the attributes of <form>, <input> and <button>
// elements with double-quoted values, which is how the provider's
// templates write them. It is no general HTML parser.
package oidcprovidertest

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Page is a response that a browser shows or follows.
type Page struct {
	// URL is the URL of the page, after any redirects that were followed.
	URL    *url.URL
	Status int
	Body   string
	// Location is the absolute redirect target of a 3xx response that was
	// not followed, and nil otherwise.
	Location *url.URL
}

// Form is an HTML form of a page.
type Form struct {
	ID     string
	Method string
	// Action is the absolute URL the form posts to.
	Action *url.URL
	// Fields are the values of the form's inputs, which the caller may
	// change before Submit.
	Fields url.Values
}

// Open sends GET rawURL with c's cookie jar, follows redirects, and
// returns the final page.
func Open(t testing.TB, c *http.Client, rawURL string) *Page {
	t.Helper()
	follow := *c
	follow.CheckRedirect = nil
	resp, err := follow.Get(rawURL)
	if err != nil {
		t.Fatalf("oidcprovidertest: GET %s: %v", rawURL, err)
	}
	return readPage(t, resp)
}

// Get sends GET rawURL with c's cookie jar without following a redirect.
func Get(t testing.TB, c *http.Client, rawURL string) *Page {
	t.Helper()
	resp, err := noFollow(c).Get(rawURL)
	if err != nil {
		t.Fatalf("oidcprovidertest: GET %s: %v", rawURL, err)
	}
	return readPage(t, resp)
}

// Submit posts form with c's cookie jar, adding the submit button name
// with value when name is not empty, and returns the response without
// following a redirect.
func Submit(t testing.TB, c *http.Client, form *Form, name, value string) *Page {
	t.Helper()
	values := url.Values{}
	for k, v := range form.Fields {
		values[k] = append([]string(nil), v...)
	}
	if name != "" {
		values.Set(name, value)
	}
	req, err := http.NewRequest(http.MethodPost, form.Action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatalf("oidcprovidertest: build form post to %s: %v", form.Action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noFollow(c).Do(req)
	if err != nil {
		t.Fatalf("oidcprovidertest: POST %s: %v", form.Action, err)
	}
	return readPage(t, resp)
}

// Login signs in as username with password on the provider's login page
// and approves or denies on its consent page, starting from startURL: an
// authorization URL, or a URL that redirects to one. It returns the URL
// that the provider then sends the browser to, which is the client's
// redirect URI with a code, or with error=access_denied after a denial.
// That URL is not opened, so the caller can check it and pass it on.
func Login(t testing.TB, c *http.Client, startURL, username, password string, approve bool) *url.URL {
	t.Helper()
	login := Open(t, c, startURL)
	if login.Status != http.StatusOK {
		t.Fatalf("oidcprovidertest: login page %s: got status %d, want 200\n%s", login.URL, login.Status, login.Body)
	}
	form := login.Form(t, "login")
	form.Fields.Set("username", username)
	form.Fields.Set("password", password)
	signedIn := Submit(t, c, form, "", "")
	if signedIn.Location == nil {
		t.Fatalf("oidcprovidertest: sign in as %s: got status %d without a redirect, want one to the consent page\n%s",
			username, signedIn.Status, signedIn.Body)
	}

	consent := Open(t, c, signedIn.Location.String())
	if consent.Status != http.StatusOK {
		t.Fatalf("oidcprovidertest: consent page %s: got status %d, want 200\n%s", consent.URL, consent.Status, consent.Body)
	}
	decision := "deny"
	if approve {
		decision = "approve"
	}
	next := Submit(t, c, consent.Form(t, "consent"), "decision", decision)

	// Follow the provider's own redirects (to its callback, which issues
	// the code) until one leaves the provider.
	for range 5 {
		if next.Location == nil {
			t.Fatalf("oidcprovidertest: after %s: got status %d without a redirect\n%s", decision, next.Status, next.Body)
		}
		if next.Location.Host != login.URL.Host {
			return next.Location
		}
		next = Get(t, c, next.Location.String())
	}
	t.Fatalf("oidcprovidertest: after %s: the provider redirects to itself more than 5 times", decision)
	return nil
}

var (
	formPattern      = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputPattern     = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attributePattern = regexp.MustCompile(`([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*"([^"]*)"`)
)

// Form returns the page's form with id, failing the test when there is
// none.
func (p *Page) Form(t testing.TB, id string) *Form {
	t.Helper()
	for _, m := range formPattern.FindAllStringSubmatch(p.Body, -1) {
		attrs := attributes(m[1])
		if attrs["id"] != id {
			continue
		}
		action, err := p.URL.Parse(attrs["action"])
		if err != nil {
			t.Fatalf("oidcprovidertest: form %q on %s: invalid action %q: %v", id, p.URL, attrs["action"], err)
		}
		f := &Form{ID: id, Method: strings.ToUpper(attrs["method"]), Action: action, Fields: url.Values{}}
		for _, input := range inputPattern.FindAllStringSubmatch(m[2], -1) {
			a := attributes(input[1])
			if a["name"] != "" {
				f.Fields.Add(a["name"], a["value"])
			}
		}
		return f
	}
	t.Fatalf("oidcprovidertest: no form with id %q on %s (status %d)\n%s", id, p.URL, p.Status, p.Body)
	return nil
}

func attributes(tag string) map[string]string {
	attrs := map[string]string{}
	for _, m := range attributePattern.FindAllStringSubmatch(tag, -1) {
		attrs[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return attrs
}

func noFollow(c *http.Client) *http.Client {
	copied := *c
	copied.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &copied
}

func readPage(t testing.TB, resp *http.Response) *Page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("oidcprovidertest: read response from %s: %v", resp.Request.URL, err)
	}
	p := &Page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Location(); err == nil {
			p.Location = loc
		}
	}
	return p
}
