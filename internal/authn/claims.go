package authn

import (
	"fmt"
	"strings"

	"github.com/toolgate/toolgate/internal/store"
)

// userFromClaims reads the user from the claims of a verified ID token or
// bearer JWT: the id from "sub", the name from "name" or else
// "preferred_username", "email", and the roles from Options.RolesClaim. A
// missing roles claim means no roles. It fails when "sub" is missing or the
// roles claim has an unexpected type.
func (a *Authenticator) userFromClaims(claims map[string]any) (*store.User, error) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, fmt.Errorf("authn: token has no sub claim")
	}

	name, _ := claims["name"].(string)
	if name == "" {
		name, _ = claims["preferred_username"].(string)
	}
	email, _ := claims["email"].(string)

	var roles []string
	if v, ok := lookupClaim(claims, a.opts.RolesClaim); ok {
		var err error
		if roles, err = parseRoles(v); err != nil {
			return nil, fmt.Errorf("authn: roles claim %q: %w", a.opts.RolesClaim, err)
		}
	}
	return &store.User{ID: sub, Name: name, Email: email, Roles: roles}, nil
}

// lookupClaim returns the claim called name. It first takes name as one
// claim name, because namespaced claims such as "https://example.com/roles"
// contain dots, and then as a dotted path through nested JSON objects, such
// as "realm_access.roles" in Keycloak tokens.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}

	var v any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// parseRoles converts a decoded roles claim into a list of roles without
// duplicates or empty entries. It accepts null, a JSON array of strings, or
// one string of roles separated by spaces or commas.
func parseRoles(v any) ([]string, error) {
	var raw []string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		raw = strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	case []any:
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is a %s, want a string", i, jsonType(item))
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("claim is a %s, want an array of strings or a string", jsonType(v))
	}

	roles := make([]string, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		roles = append(roles, r)
	}
	return roles, nil
}

// jsonType names the JSON type of a value decoded by encoding/json.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, int64, int:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
