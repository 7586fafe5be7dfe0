// Package consenttest provides fakes for tests of consent flows. The
// OAuth 2.0 authorization server on httptest checks what a client must get
// right: PKCE S256, the redirect URI, client authentication and
// single-use codes. The vault keeps tokens in memory, and the clock moves
// only when a test moves it.
package consenttest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/provider"
)

// AuthServer is a fake authorization server listening on 127.0.0.1. Its
// URL is also its issuer. The authorization endpoint responds at once, as
// if the user had approved, unless Deny was called. The token endpoint
// accepts only client_secret_basic with ClientID and ClientSecret, a code
// it issued and has not redeemed, the redirect URI of that authorization
// request, and a code_verifier whose S256 challenge matches. Every
// rejected request is recorded for Rejections.
//
// An AuthServer is safe for concurrent use.
type AuthServer struct {
	URL          string
	ClientID     string
	ClientSecret string
	RedirectURI  string

	srv *httptest.Server

	mu sync.Mutex
	// grants maps each issued code to its authorization request.
	grants        map[string]*grant
	denyWith      string
	iss           string
	tokenRequests int
	rejections    []string
	issued        int
}

type grant struct {
	challenge   string
	redirectURI string
	scope       string
	redeemed    bool
}

// NewAuthServer starts an AuthServer that expects redirectURI and stops it
// when the test ends.
func NewAuthServer(t testing.TB, redirectURI string) *AuthServer {
	t.Helper()
	a := &AuthServer{
		ClientID:     "toolgate-client",
		ClientSecret: "client-secret-value",
		RedirectURI:  redirectURI,
		grants:       map[string]*grant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", a.authorize)
	mux.HandleFunc("POST /token", a.token)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	a.URL = a.srv.URL
	a.iss = a.URL
	return a
}

// Metadata returns the server's authorization server metadata (RFC
// 8414), for registering it as a custom provider.
func (a *AuthServer) Metadata() *provider.Metadata {
	return &provider.Metadata{
		Issuer:                            a.URL,
		AuthorizationEndpoint:             a.URL + "/authorize",
		TokenEndpoint:                     a.URL + "/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic"},
		CodeChallengeMethodsSupported:     []string{"S256"},
	}
}

// Deny makes the authorization endpoint respond to later requests with
// the error code instead of a code, as when the user declines. ""
// restores approval.
func (a *AuthServer) Deny(code string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.denyWith = code
}

// SetIssuerParameter sets the "iss" parameter (RFC 9207) of later
// authorization responses. "" leaves it out. It starts as URL.
func (a *AuthServer) SetIssuerParameter(iss string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.iss = iss
}

// TokenRequests returns how many requests reached the token endpoint,
// accepted or not.
func (a *AuthServer) TokenRequests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenRequests
}

// Rejections returns why the server rejected requests so far, oldest
// first.
func (a *AuthServer) Rejections() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.rejections...)
}

// Authorize plays the browser at the authorization endpoint: it sends
// authURL, which must point at this server, without following the
// redirect, and returns the query of the redirect to the redirect URI.
func (a *AuthServer) Authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	if !strings.HasPrefix(authURL, a.URL+"/authorize?") {
		t.Fatalf("authorization URL %q does not point at the fake authorization server %s", authURL, a.URL)
	}
	client := a.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorization endpoint: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint: got status %d, want 302; rejections: %v", resp.StatusCode, a.Rejections())
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorization endpoint Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != a.RedirectURI {
		t.Fatalf("authorization endpoint redirected to %q, want the redirect URI %q", got, a.RedirectURI)
	}
	return loc.Query()
}

func (a *AuthServer) reject(w http.ResponseWriter, status int, code, reason string) {
	a.mu.Lock()
	a.rejections = append(a.rejections, reason)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": reason})
}

// authorize checks an authorization request (RFC 6749 section 4.1.1, RFC
// 7636 section 4.3) and redirects with a code, or with an error when Deny
// was called.
func (a *AuthServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		a.reject(w, http.StatusBadRequest, "unsupported_response_type", "response_type is not code")
		return
	case q.Get("client_id") != a.ClientID:
		a.reject(w, http.StatusBadRequest, "unauthorized_client", "unknown client_id "+q.Get("client_id"))
		return
	case q.Get("redirect_uri") != a.RedirectURI:
		a.reject(w, http.StatusBadRequest, "invalid_request", "redirect_uri "+q.Get("redirect_uri")+" is not registered")
		return
	case q.Get("code_challenge_method") != "S256":
		a.reject(w, http.StatusBadRequest, "invalid_request", "code_challenge_method is not S256")
		return
	case len(q.Get("code_challenge")) != 43:
		a.reject(w, http.StatusBadRequest, "invalid_request", "code_challenge is not 43 characters")
		return
	case q.Get("state") == "":
		a.reject(w, http.StatusBadRequest, "invalid_request", "state is missing")
		return
	}

	a.mu.Lock()
	deny, iss := a.denyWith, a.iss
	var code string
	if deny == "" {
		a.issued++
		code = fmt.Sprintf("code-%d-%s", a.issued, randomText())
		a.grants[code] = &grant{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), scope: q.Get("scope")}
	}
	a.mu.Unlock()

	back := url.Values{"state": {q.Get("state")}}
	if deny != "" {
		back.Set("error", deny)
		back.Set("error_description", "The user declined the request.")
	} else {
		back.Set("code", code)
	}
	if iss != "" {
		back.Set("iss", iss)
	}
	http.Redirect(w, r, a.RedirectURI+"?"+back.Encode(), http.StatusFound)
}

// token checks an access token request (RFC 6749 section 4.1.3, RFC 7636
// section 4.5) and responds with tokens or an RFC 6749 section 5.2 error.
func (a *AuthServer) token(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.tokenRequests++
	a.mu.Unlock()

	user, pass, ok := r.BasicAuth()
	if ok {
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
	}
	if !ok || user != a.ClientID || pass != a.ClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		a.reject(w, http.StatusUnauthorized, "invalid_client", "client authentication with client_secret_basic failed")
		return
	}
	if err := r.ParseForm(); err != nil {
		a.reject(w, http.StatusBadRequest, "invalid_request", "body is not a form")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		a.reject(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type is not authorization_code")
		return
	}
	if r.PostForm.Has("client_secret") {
		a.reject(w, http.StatusBadRequest, "invalid_request", "client_secret sent in the body as well")
		return
	}

	a.mu.Lock()
	g, known := a.grants[r.PostForm.Get("code")]
	redeemed := known && g.redeemed
	if known {
		// The first redemption attempt spends a code, even a rejected one,
		// so that a second attempt with the same code always fails.
		g.redeemed = true
	}
	a.mu.Unlock()
	switch {
	case !known:
		a.reject(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case redeemed:
		a.reject(w, http.StatusBadRequest, "invalid_grant", "code already redeemed")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		a.reject(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request")
		return
	case oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != g.challenge:
		a.reject(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  "access-" + randomText(),
		"refresh_token": "refresh-" + randomText(),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"scope":         g.scope,
	})
}

func randomText() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
