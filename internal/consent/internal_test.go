package consent

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/toolgate/toolgate/internal/provider"
)

func TestAuthorizationURL(t *testing.T) {
	cfg := &provider.Config{
		ProviderID:            "slack",
		AuthorizationEndpoint: "https://idp.example.com/authorize?tenant=acme&state=stale",
		ClientID:              "client-1",
		RedirectURI:           "https://toolgate.example.com/oauth/callback",
		ScopeParameter:        "user_scope",
		ScopeSeparator:        ",",
		AuthorizeParameters: map[string]string{
			"prompt":                "consent",
			"access_type":           "offline",
			"State":                 "attacker",
			"redirect_uri":          "https://evil.example.net/cb",
			"code_challenge_method": "plain",
			"USER_SCOPE":            "admin",
			"response_type":         "token",
			"client_id":             "other",
		},
	}

	verifier := oauth2.GenerateVerifier()
	raw, err := authorizationURL(cfg, []string{"files:read", "chat:write"}, "the-state", verifier)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}

	if got := u.Scheme + "://" + u.Host + u.Path; got != "https://idp.example.com/authorize" {
		t.Errorf("endpoint: got %q", got)
	}
	q := u.Query()
	want := map[string]string{
		"tenant":                "acme",
		"prompt":                "consent",
		"access_type":           "offline",
		"response_type":         "code",
		"client_id":             "client-1",
		"redirect_uri":          "https://toolgate.example.com/oauth/callback",
		"state":                 "the-state",
		"code_challenge":        oauth2.S256ChallengeFromVerifier(verifier),
		"code_challenge_method": "S256",
		"user_scope":            "files:read,chat:write",
	}
	for name, value := range want {
		if got := q[name]; len(got) != 1 || got[0] != value {
			t.Errorf("parameter %s: got %q, want [%q]", name, got, value)
		}
	}

	for _, name := range []string{"State", "USER_SCOPE", "scope", "code_verifier"} {
		if q.Has(name) {
			t.Errorf("parameter %s: got %q, want it absent", name, q[name])
		}
	}
	if strings.Contains(raw, verifier) {
		t.Errorf("authorization URL contains the verifier")
	}
}

func TestAuthorizationURLWithoutScopes(t *testing.T) {
	cfg := &provider.Config{AuthorizationEndpoint: "https://idp.example.com/authorize", ClientID: "c"}
	raw, err := authorizationURL(cfg, nil, "s", oauth2.GenerateVerifier())
	if err != nil {
		t.Fatal(err)
	}
	if q := mustQuery(t, raw); q.Has("scope") {
		t.Errorf("scope: got %q, want it absent", q["scope"])
	}
	if _, err := authorizationURL(&provider.Config{AuthorizationEndpoint: "/relative"}, nil, "s", "v"); err == nil {
		t.Errorf("relative endpoint: got no error")
	}
}

func TestSanitizeErrorCode(t *testing.T) {
	cases := map[string]string{
		"access_denied":             "access_denied",
		"AADSTS65004":               "AADSTS65004",
		"vendor.code-1":             "vendor.code-1",
		"":                          "invalid_error",
		"<script>":                  "invalid_error",
		"access denied":             "invalid_error",
		strings.Repeat("e", 65):     "invalid_error",
		strings.Repeat("e", 64):     strings.Repeat("e", 64),
		"acc\u00e8s_refus\u00e9":    "invalid_error",
		"access_denied\nSet-Cookie": "invalid_error",
	}
	for in, want := range cases {
		if got := sanitizeErrorCode(in); got != want {
			t.Errorf("sanitizeErrorCode(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeDescription(t *testing.T) {
	cases := map[string]string{
		"The user declined.":             "The user declined.",
		"  spaced \n\t out  ":            "spaced out",
		`quote " and \ backslash`:        "quote and backslash",
		"<b>bold</b>":                    "<b>bold</b>",
		"caf\u00e9 \u202e reversed":      "caf reversed",
		strings.Repeat("d", 300):         strings.Repeat("d", 256),
		"x" + strings.Repeat(" y", 200):  "x" + strings.Repeat(" y", 127) + " ",
		"\x00\x01only control\x7f chars": "only control chars",
	}
	for in, want := range cases {
		if got := sanitizeDescription(in); got != want {
			t.Errorf("sanitizeDescription(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestDescribeOutcome(t *testing.T) {
	cases := []struct {
		status, code, provider string
		want                   string
	}{
		{OutcomeError, "access_denied", "Google", "You declined access to Google"},
		{OutcomeError, "access_denied", "", "You declined access to the provider"},
		{OutcomeError, "invalid_scope", "", "The provider did not accept"},
		{OutcomeError, codeExpired, "GitHub", "expired"},
		{OutcomeError, codeCancelled, "GitHub", "replaced this one"},
		{OutcomeError, "weird_code", "GitHub", "error code weird_code"},
		{OutcomeError, "", "GitHub", "Connecting GitHub failed."},
		{OutcomeSuccess, "", "GitHub", "Your GitHub account is connected"},
	}
	for _, tc := range cases {
		_, message := describeOutcome(tc.status, tc.code, tc.provider)
		if !strings.Contains(message, tc.want) {
			t.Errorf("describeOutcome(%q, %q, %q): got %q, want it to contain %q", tc.status, tc.code, tc.provider, message, tc.want)
		}
	}
}

func TestUnionScopes(t *testing.T) {
	got := unionScopes([]string{"a", "b"}, []string{"b", "c", "a", "d"})
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("unionScopes: got %q, want %q", got, want)
	}
	if !coversScopes([]string{"a", "b"}, []string{"b"}) || coversScopes([]string{"a"}, []string{"a", "b"}) {
		t.Errorf("coversScopes: wrong answer")
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
