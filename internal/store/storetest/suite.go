package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// Run runs the conformance suite against stores made by open. Each subtest
// gets a fresh, migrated store.
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"Ping", testPing},
		{"MigrateTwice", testMigrateTwice},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"LoginFlowSingleUse", testLoginFlowSingleUse},
		{"LoginFlowExpired", testLoginFlowExpired},
		{"APITokens", testAPITokens},
		{"Providers", testProviders},
		{"ProviderConcurrentUpdates", testProviderConcurrentUpdates},
		{"SealedValues", testSealedValues},
		{"RewriteSealed", testRewriteSealed},
	}
	tests = append(tests, vaultTests...)
	tests = append(tests, mcpTests...)
	tests = append(tests, chatTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// now is a fixed instant with whole microseconds, so values survive the
// round trip through the database unchanged.
var now = time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)

func testPing(t *testing.T, s *store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testMigrateTwice(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if err := s.Migrate(ctx, discardLogger()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	current, latest, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if current != latest || current == 0 {
		t.Errorf("got version %d of %d, want the latest non-zero", current, latest)
	}
}

func testUsers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser of missing user: got %v, want ErrNotFound", err)
	}
	u := &store.User{ID: "alice", Name: "Alice", Email: "a@example.test", Roles: []string{"toolgate-admin"}, CreatedAt: now, LastSeenAt: now}
	if err := s.UpsertUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	if err := s.UpsertUser(ctx, &store.User{ID: "alice", Name: "Alice B", Roles: nil, CreatedAt: later, LastSeenAt: later}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := &store.User{ID: "alice", Name: "Alice B", Email: "", Roles: []string{}, CreatedAt: now, LastSeenAt: later}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetUser after second upsert:\n got %+v\nwant %+v", got, want)
	}
}

func testSessions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	sess := &store.Session{
		IDHash: "h1", UserID: "alice", Name: "Alice", Roles: []string{"r"}, AuthMethod: "dev",
		CSRFToken: "csrf", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateSession twice: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetSession(ctx, "h1", now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sess) {
		t.Errorf("GetSession:\n got %+v\nwant %+v", got, sess)
	}
	if _, err := s.GetSession(ctx, "h1", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession at expiry: got %v, want ErrNotFound", err)
	}
	if err := s.TouchSession(ctx, "h1", now.Add(time.Minute), now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "h1", now.Add(90*time.Minute)); err != nil {
		t.Errorf("GetSession after touch: %v", err)
	}
	if err := s.TouchSession(ctx, "missing", now, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession of missing session: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, "h1"); err != nil {
		t.Errorf("DeleteSession twice: %v, want nil", err)
	}
	if _, err := s.GetSession(ctx, "h1", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after delete: got %v, want ErrNotFound", err)
	}

	for i, exp := range []time.Duration{-time.Minute, time.Minute, time.Hour} {
		sess := &store.Session{IDHash: fmt.Sprintf("e%d", i), UserID: "bob", AuthMethod: "dev", CSRFToken: "c",
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(exp)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions: got %d, %v; want 1, nil", n, err)
	}
	if n, err := s.DeleteUserSessions(ctx, "bob"); err != nil || n != 2 {
		t.Errorf("DeleteUserSessions: got %d, %v; want 2, nil", n, err)
	}
}

func testLoginFlowSingleUse(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := &store.LoginFlow{StateHash: "st", Verifier: "sealed", Nonce: "n", ReturnTo: "/x", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateLoginFlow(ctx, f); err != nil {
		t.Fatal(err)
	}

	// Of many concurrent consumers of one state, exactly one gets it.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ConsumeLoginFlow(ctx, "st", now)
			switch {
			case err == nil:
				wins.Add(1)
				if !reflect.DeepEqual(got, f) {
					t.Errorf("ConsumeLoginFlow:\n got %+v\nwant %+v", got, f)
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("ConsumeLoginFlow: got %v, want nil or ErrNotFound", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("got %d successful consumers, want 1", wins.Load())
	}
}

func testLoginFlowExpired(t *testing.T, s *store.Store) {
	ctx := context.Background()
	f := &store.LoginFlow{StateHash: "old", Verifier: "v", Nonce: "n", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateLoginFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeLoginFlow(ctx, "old", now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ConsumeLoginFlow after expiry: got %v, want ErrNotFound", err)
	}
}

func testAPITokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	tok := &store.APIToken{ID: "t1", Name: "ci", Hash: "hash1", UserID: "svc", Roles: []string{"workload"}, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	dup := *tok
	dup.ID = "t2"
	if err := s.CreateAPIToken(ctx, &dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateAPIToken with a taken hash: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetAPITokenByHash(ctx, "hash1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tok) {
		t.Errorf("GetAPITokenByHash:\n got %+v\nwant %+v", got, tok)
	}
	if _, err := s.GetAPITokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAPITokenByHash of unknown hash: got %v, want ErrNotFound", err)
	}

	if err := s.TouchAPIToken(ctx, "t1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, "t1", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, "t1", now.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, "missing", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeAPIToken of unknown id: got %v, want ErrNotFound", err)
	}
	got, err = s.GetAPIToken(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastUsedAt.Equal(now.Add(time.Minute)) || !got.RevokedAt.Equal(now.Add(2*time.Minute)) {
		t.Errorf("got last used %v, revoked %v; want %v and the first revocation %v",
			got.LastUsedAt, got.RevokedAt, now.Add(time.Minute), now.Add(2*time.Minute))
	}

	list, err := s.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "t1" {
		t.Errorf("ListAPITokens: got %+v, want only t1", list)
	}
}

func sampleProvider(id string) *store.Provider {
	return &store.Provider{
		ID: id, DisplayName: "Example", Type: "custom", ClientID: "cid", ClientSecret: "tg1:k1:sealed",
		Scopes: []string{"openid", "email"}, AllowedRoles: []string{}, Enabled: true,
		Icon: "https://example.test/i.png", CustomParameters: map[string]string{"hd": "example.test"},
		DiscoveryURL: "https://idp.example.test/.well-known/openid-configuration",
		Metadata:     []byte(`{"issuer":"https://idp.example.test"}`), Settings: []byte(`{}`),
		CreatedAt: now, UpdatedAt: now,
	}
}

func testProviders(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := sampleProvider("example")
	if err := s.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProvider(ctx, p); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateProvider twice: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetProvider(ctx, "example")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("GetProvider:\n got %+v\nwant %+v", got, p)
	}

	updated, err := s.UpdateProvider(ctx, "example", func(p *store.Provider) error {
		p.DisplayName = "Renamed"
		p.ID = "hijack" // must be ignored
		p.UpdatedAt = now.Add(time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ID != "example" || updated.DisplayName != "Renamed" {
		t.Errorf("UpdateProvider: got id %q name %q, want example and Renamed", updated.ID, updated.DisplayName)
	}
	abort := errors.New("abort")
	if _, err := s.UpdateProvider(ctx, "example", func(p *store.Provider) error {
		p.DisplayName = "Lost"
		return abort
	}); !errors.Is(err, abort) {
		t.Errorf("UpdateProvider with failing update: got %v, want the update's error", err)
	}
	if _, err := s.UpdateProvider(ctx, "missing", func(*store.Provider) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateProvider of missing provider: got %v, want ErrNotFound", err)
	}
	got, err = s.GetProvider(ctx, "example")
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Renamed" || !got.CreatedAt.Equal(now) {
		t.Errorf("after updates: got name %q created %v, want Renamed and %v", got.DisplayName, got.CreatedAt, now)
	}

	if err := s.CreateProvider(ctx, sampleProvider("another")); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListProviders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "another" || list[1].ID != "example" {
		t.Errorf("ListProviders: got %d providers, want another and example in order", len(list))
	}
	if err := s.DeleteProvider(ctx, "example"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProvider(ctx, "example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteProvider twice: got %v, want ErrNotFound", err)
	}
}

func testProviderConcurrentUpdates(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := sampleProvider("counter")
	p.Scopes = nil
	if err := s.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Each update appends one scope; a lost update would drop one.
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateProvider(ctx, "counter", func(p *store.Provider) error {
				p.Scopes = append(p.Scopes, fmt.Sprintf("s%d", i))
				return nil
			})
			if err != nil {
				t.Errorf("UpdateProvider: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetProvider(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scopes) != n {
		t.Errorf("got %d scopes after %d concurrent appends, want %d", len(got.Scopes), n, n)
	}
}

func testSealedValues(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i, kid := range []string{"k1", "k1", "k2", ""} {
		p := sampleProvider(fmt.Sprintf("p%d", i))
		p.ClientSecret = ""
		if kid != "" {
			p.ClientSecret = fmt.Sprintf("tg1:%s:data%d", kid, i)
		}
		if err := s.CreateProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	counts, err := s.SealedKeyIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"k1": 2, "k2": 1}; !reflect.DeepEqual(counts, want) {
		t.Errorf("SealedKeyIDs: got %v, want %v", counts, want)
	}

	col := store.SecretColumns()[0]
	var all []store.SealedValue
	var after []string
	for {
		page, err := s.ListSealed(ctx, col, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Key
	}
	if len(all) != 3 {
		t.Fatalf("ListSealed paged: got %d values, want 3", len(all))
	}
	if all[0].AAD() != store.ProviderSecretAAD("p0") {
		t.Errorf("AAD: got %q, want %q", all[0].AAD(), store.ProviderSecretAAD("p0"))
	}

	if err := s.ReplaceSealed(ctx, all[0], "tg1:k3:new"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceSealed(ctx, all[0], "tg1:k3:again"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ReplaceSealed of a changed value: got %v, want ErrConflict", err)
	}
	got, err := s.GetProvider(ctx, "p0")
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientSecret != "tg1:k3:new" {
		t.Errorf("client secret after replace: got %q, want tg1:k3:new", got.ClientSecret)
	}
}

func testRewriteSealed(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i := range 5 {
		p := sampleProvider(fmt.Sprintf("r%d", i))
		p.ClientSecret = fmt.Sprintf("tg1:old:v%d", i)
		if i == 4 {
			p.ClientSecret = "tg1:new:v4"
		}
		if err := s.CreateProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	// The rewrite moves values from key "old" to key "new", and checks it is
	// given each row's own associated data.
	var seen []string
	n, err := s.RewriteSealed(ctx, 2, func(sealed, aad string) (string, bool, error) {
		seen = append(seen, sealed)
		id := strings.TrimPrefix(aad, store.ProviderSecretAAD(""))
		if want := store.ProviderSecretAAD(id); aad != want {
			return "", false, fmt.Errorf("aad %q, want %q", aad, want)
		}
		if strings.HasPrefix(sealed, "tg1:new:") {
			return sealed, false, nil
		}
		return strings.Replace(sealed, "tg1:old:", "tg1:new:", 1), true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || len(seen) != 5 {
		t.Errorf("RewriteSealed: got %d rewritten of %d seen, want 4 of 5", n, len(seen))
	}
	counts, err := s.SealedKeyIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"new": 5}; !reflect.DeepEqual(counts, want) {
		t.Errorf("SealedKeyIDs after rewrite: got %v, want %v", counts, want)
	}

	failure := errors.New("cannot open")
	if _, err := s.RewriteSealed(ctx, 2, func(string, string) (string, bool, error) { return "", false, failure }); !errors.Is(err, failure) {
		t.Errorf("RewriteSealed with a failing rewrite: got %v, want the rewrite's error", err)
	}
}
