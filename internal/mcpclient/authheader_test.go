package mcpclient

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []challenge
	}{
		{
			name:   "bare scheme",
			values: []string{"Bearer"},
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{}}},
		},
		{
			name:   "insufficient scope",
			values: []string{`Bearer realm="mcp", error="insufficient_scope", scope="calendar.read calendar.write"`},
			want: []challenge{{Scheme: "Bearer", Params: map[string]string{
				"realm": "mcp", "error": "insufficient_scope", "scope": "calendar.read calendar.write",
			}}},
		},
		{
			name:   "token values, spaces around equals, upper-case names",
			values: []string{`Bearer Error = invalid_token ,  Realm=x`},
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "realm": "x"}}},
		},
		{
			name:   "quoted string with escapes and commas",
			values: []string{`Bearer error_description="the \"token\", sadly, expired", error="invalid_token"`},
			want: []challenge{{Scheme: "Bearer", Params: map[string]string{
				"error_description": `the "token", sadly, expired`, "error": "invalid_token",
			}}},
		},
		{
			name: "several challenges in one value",
			values: []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", ` +
				`Bearer error="insufficient_scope", scope="a b"`},
			want: []challenge{
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_scope", "scope": "a b"}},
			},
		},
		{
			name:   "bare scheme between challenges",
			values: []string{`Basic, Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource"`},
			want: []challenge{
				{Scheme: "Basic", Params: map[string]string{}},
				{Scheme: "Bearer", Params: map[string]string{"resource_metadata": "https://mcp.example.test/.well-known/oauth-protected-resource"}},
			},
		},
		{
			name:   "token68",
			values: []string{"Negotiate YIIB+w==, Bearer"},
			want: []challenge{
				{Scheme: "Negotiate", Params: map[string]string{}, Token68: "YIIB+w=="},
				{Scheme: "Bearer", Params: map[string]string{}},
			},
		},
		{
			name:   "several header values and empty list items",
			values: []string{`Basic realm="a"`, `, ,Bearer error="invalid_token",,`},
			want: []challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "a"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}},
			},
		},
		{
			name:   "repeated parameter keeps the first",
			values: []string{`Bearer error="insufficient_scope", error="invalid_token"`},
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_scope"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChallenges(tt.values)
			if err != nil {
				t.Fatalf("parseChallenges(%q): %v", tt.values, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseChallenges(%q):\n got %+v\nwant %+v", tt.values, got, tt.want)
			}
		})
	}
}

func TestParseChallengesMalformed(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		wantFirst string // scheme of the first challenge returned, or ""
	}{
		{"unterminated quote", `Bearer error="invalid_token`, "Bearer"},
		{"missing value", `Bearer realm="x", error=`, "Bearer"},
		{"no scheme", `="x"`, ""},
		{"junk after value", `Bearer error="a" "b"`, "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChallenges([]string{tt.value})
			if !errors.Is(err, errMalformedChallenge) {
				t.Errorf("parseChallenges(%q): got error %v, want errMalformedChallenge", tt.value, err)
			}
			first := ""
			if len(got) > 0 {
				first = got[0].Scheme
			}
			if first != tt.wantFirst {
				t.Errorf("parseChallenges(%q): got first scheme %q, want %q", tt.value, first, tt.wantFirst)
			}
		})
	}
}

func TestBearerChallenge(t *testing.T) {
	c, ok := bearerChallenge([]string{`Basic realm="x"`, `bearer error="insufficient_scope", scope="s1 s2"`})
	if !ok {
		t.Fatal("bearerChallenge: no Bearer challenge found, want the second value's")
	}
	if c.Params["scope"] != "s1 s2" {
		t.Errorf("scope: got %q, want %q", c.Params["scope"], "s1 s2")
	}
	if _, ok := bearerChallenge([]string{`Basic realm="x"`}); ok {
		t.Error("bearerChallenge of a Basic challenge: got ok, want none")
	}
}
