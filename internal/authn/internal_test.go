package authn

import (
	"slices"
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/sessions/42?tab=tools#top", "/sessions/42?tab=tools#top"},
		{"//evil.example.test", "/"},
		{`/\evil.example.test`, "/"},
		{"https://evil.example.test/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example.test", "/"},
		{"/\t/evil.example.test", "/"},
		{"/a\nb", "/"},
		{"/a\x7fb", "/"},
		{"/" + strings.Repeat("a", maxReturnToLen), "/"},
	}
	for _, tt := range tests {
		if got := safeReturnTo(tt.in); got != tt.want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRoles(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    []string
		wantErr bool
	}{
		{"null", nil, nil, false},
		{"array", []any{"a", "b"}, []string{"a", "b"}, false},
		{"array with duplicates and blanks", []any{"a", " ", "a", "b "}, []string{"a", "b"}, false},
		{"spaces", "a b  c", []string{"a", "b", "c"}, false},
		{"commas", "a,b, c", []string{"a", "b", "c"}, false},
		{"empty string", "", []string{}, false},
		{"group paths", []any{"/org/ops"}, []string{"/org/ops"}, false},
		{"number in array", []any{"a", 1.0}, nil, true},
		{"object", map[string]any{"a": true}, nil, true},
		{"number", 3.0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoles(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRoles(%v) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("parseRoles(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLookupClaim(t *testing.T) {
	claims := map[string]any{
		"roles":                    []any{"top"},
		"realm_access":             map[string]any{"roles": []any{"nested"}},
		"https://example.test/r":   []any{"namespaced"},
		"resource_access":          map[string]any{"toolgate": map[string]any{"roles": []any{"deep"}}},
		"realm_access.roles.extra": "literal wins",
	}
	tests := []struct {
		name   string
		want   any
		wantOK bool
	}{
		{"roles", []any{"top"}, true},
		{"realm_access.roles", []any{"nested"}, true},
		{"https://example.test/r", []any{"namespaced"}, true},
		{"resource_access.toolgate.roles", []any{"deep"}, true},
		{"realm_access.roles.extra", "literal wins", true},
		{"realm_access.missing", nil, false},
		{"roles.inner", nil, false},
		{"missing", nil, false},
	}
	for _, tt := range tests {
		got, ok := lookupClaim(claims, tt.name)
		if ok != tt.wantOK || !equalClaim(got, tt.want) {
			t.Errorf("lookupClaim(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func equalClaim(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := bearerToken(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIsJWTShape(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"eyJh.eyJz.c2ln", true},
		{"a-b_c.d.e", true},
		{"a.b.", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{"a.b+c.d", false},
		{"tgat_abc", false},
	}
	for _, tt := range tests {
		if got := isJWTShape(tt.in); got != tt.want {
			t.Errorf("isJWTShape(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestIdentityIsAdmin(t *testing.T) {
	tests := []struct {
		name string
		id   *Identity
		want bool
	}{
		{"nil", nil, false},
		{"default role", &Identity{Roles: []string{DefaultAdminRole}}, true},
		{"configured role", &Identity{Roles: []string{"ops-admin"}, adminRole: "ops-admin"}, true},
		{"default role when another is configured", &Identity{Roles: []string{DefaultAdminRole}, adminRole: "ops-admin"}, false},
		{"no roles", &Identity{}, false},
	}
	for _, tt := range tests {
		if got := tt.id.IsAdmin(); got != tt.want {
			t.Errorf("%s: IsAdmin() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
