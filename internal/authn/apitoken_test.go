package authn_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/store"
)

func TestAPITokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newDevEnv(t, st, "alice")
		ctx := t.Context()

		token, meta, err := e.auth.CreateAPIToken(ctx, "ci deploy", "alice", []string{"ops"}, time.Time{})
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		if !strings.HasPrefix(token, "tgat_") || len(token) != len("tgat_")+43 {
			t.Errorf("token has length %d and prefix %q, want tgat_ and 43 characters", len(token), token[:min(5, len(token))])
		}
		if meta.ID == "" || meta.Name != "ci deploy" || meta.UserID != "alice" || meta.Hash != "" {
			t.Errorf("meta = %+v, want an id, the name and user, and no hash", meta)
		}

		// The token authenticates with its roles.
		bearer := headerWith("Authorization", "Bearer "+token)
		got := e.whoamiOf(t, http.DefaultClient, bearer)
		if got.UserID != "alice" || got.Method != authn.MethodAPIToken || got.APITokenID != meta.ID || !slices.Equal(got.Roles, []string{"ops"}) {
			t.Errorf("identity = %+v, want alice via api_token %s with roles [ops]", got, meta.ID)
		}

		// The store holds the hash only.
		rows, err := st.DB().Query(`SELECT id, name, token_hash, user_id, roles FROM api_tokens`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, name, hash, user, roles string
			if err := rows.Scan(&id, &name, &hash, &user, &roles); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{id, name, hash, user, roles} {
				if strings.Contains(v, strings.TrimPrefix(token, "tgat_")) {
					t.Errorf("api_tokens row contains the token: %q", v)
				}
			}
			if len(hash) != 64 {
				t.Errorf("token_hash = %q, want 64 hex characters", hash)
			}
		}

		// Last use is recorded at most once a minute.
		lastUsed := func() int64 {
			var v int64
			if err := st.DB().QueryRow(`SELECT last_used_at FROM api_tokens WHERE id = $1`, meta.ID).Scan(&v); err != nil {
				t.Fatalf("read last_used_at: %v", err)
			}
			return v
		}
		first := lastUsed()
		e.clock.Advance(30 * time.Second)
		e.whoamiOf(t, http.DefaultClient, bearer)
		if got := lastUsed(); got != first {
			t.Errorf("last_used_at changed 30s after the last write: %d, want %d", got, first)
		}
		e.clock.Advance(time.Minute)
		e.whoamiOf(t, http.DefaultClient, bearer)
		if got := lastUsed(); got <= first {
			t.Errorf("last_used_at after 90s = %d, want later than %d", got, first)
		}

		// The list shows the token without a secret.
		list, err := e.auth.ListAPITokens(ctx)
		if err != nil {
			t.Fatalf("ListAPITokens: %v", err)
		}
		if len(list) != 1 || list[0].ID != meta.ID || list[0].Name != "ci deploy" || list[0].Hash != "" {
			t.Fatalf("list = %+v, want the one token without its hash", list)
		}
		if s := fmt.Sprintf("%+v", list); strings.Contains(s, strings.TrimPrefix(token, "tgat_")) {
			t.Errorf("list contains the token: %s", s)
		}

		// A revoked token gets 401 saying so.
		if err := e.auth.RevokeAPIToken(ctx, meta.ID); err != nil {
			t.Fatalf("RevokeAPIToken: %v", err)
		}
		resp, body := do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, bearer)
		checkRejected(t, resp, body, token, "revoked")
		if err := e.auth.RevokeAPIToken(ctx, "tok_unknown"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeAPIToken(unknown) = %v, want store.ErrNotFound", err)
		}

		// An expired token gets 401 saying so.
		expiring, _, err := e.auth.CreateAPIToken(ctx, "short", "bob", nil, e.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		if got := e.whoamiOf(t, http.DefaultClient, headerWith("Authorization", "Bearer "+expiring)); got.UserID != "bob" {
			t.Fatalf("expiring token before expiry: user %q, want bob", got.UserID)
		}
		e.clock.Advance(time.Hour)
		resp, body = do(t, http.DefaultClient, http.MethodGet, e.URL+"/whoami", nil, headerWith("Authorization", "Bearer "+expiring))
		checkRejected(t, resp, body, expiring, "expired")
		e.checkLogsOmit(t, token, expiring)
	})
}

// checkRejected checks a 401 for a presented token whose detail contains
// want and whose body does not contain the token.
func checkRejected(t *testing.T, resp *http.Response, body, token, want string) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q, want Bearer error=\"invalid_token\"", got)
	}
	if p := decodeProblem(t, resp, body); !strings.Contains(p.Detail, want) {
		t.Errorf("detail = %q, want it to contain %q", p.Detail, want)
	}
	if strings.Contains(body, token) {
		t.Errorf("body echoes the token: %s", body)
	}
}

func TestCreateAPITokenValidation(t *testing.T) {
	e := newDevEnv(t, nil, "alice")
	now := e.clock.Now()
	tests := []struct {
		name      string
		tokenName string
		userID    string
		roles     []string
		expiresAt time.Time
		wantField string // "" means valid
	}{
		{"valid", "deploy bot", "alice", []string{"ops", "team:a.b_c-d"}, now.Add(time.Hour), ""},
		{"name of 100 characters", strings.Repeat("ü", 100), "alice", nil, time.Time{}, ""},
		{"empty name", "", "alice", nil, time.Time{}, "name"},
		{"name of 101 characters", strings.Repeat("x", 101), "alice", nil, time.Time{}, "name"},
		{"name with newline", "a\nb", "alice", nil, time.Time{}, "name"},
		{"name with invalid UTF-8", "a\xffb", "alice", nil, time.Time{}, "name"},
		{"empty user", "deploy", "", nil, time.Time{}, "user_id"},
		{"role with space", "deploy", "alice", []string{"bad role"}, time.Time{}, "roles"},
		{"empty role", "deploy", "alice", []string{""}, time.Time{}, "roles"},
		{"role of 65 characters", "deploy", "alice", []string{strings.Repeat("r", 65)}, time.Time{}, "roles"},
		{"expiry in the past", "deploy", "alice", nil, now.Add(-time.Second), "expires_at"},
		{"expiry now", "deploy", "alice", nil, now, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.auth.CreateAPIToken(t.Context(), tt.tokenName, tt.userID, tt.roles, tt.expiresAt)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("CreateAPIToken: %v, want success", err)
				}
				return
			}
			var invalid *authn.InvalidFieldError
			if !errors.As(err, &invalid) || invalid.Field != tt.wantField {
				t.Fatalf("CreateAPIToken error = %v, want an InvalidFieldError for %q", err, tt.wantField)
			}
		})
	}
}
