package vault_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// stampede runs Token from n goroutines per fixture at once and returns
// the access tokens they got.
func stampede(t *testing.T, n int, fixtures ...*fixture) []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fixtures {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				tok, err := f.vault.Token(context.Background(), "alice", providerID, vault.TokenOptions{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("Token: %v", err)
					return
				}
				got = append(got, tok.AccessToken)
			}()
		}
	}
	close(start)
	wg.Wait()
	return got
}

func TestTokenStampedeRefreshesOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{listen: true})
		f.idp.set(func(idp *fakeIdP) { idp.lifetime, idp.refreshDelay = 30*time.Second, 50*time.Millisecond })
		f.connect(t, "alice", nil)
		f.clock.Advance(31 * time.Second)

		got := stampede(t, 200, f)

		if n := f.idp.refreshes(); n != 1 {
			t.Errorf("refresh requests at the provider: got %d, want 1", n)
		}
		if len(got) != 200 {
			t.Fatalf("tokens: got %d, want 200", len(got))
		}
		for i, tok := range got {
			if tok != "at-1" {
				t.Fatalf("caller %d got %q, want the refreshed at-1", i, tok)
			}
		}
	})
}

func TestTokenStampedeTwoReplicasRefreshOnce(t *testing.T) {
	dbURL := storetest.NewPostgresURL(t)
	kr := newKeyring(t)
	clk := &clock{now: startTime}
	idp := newFakeIdP(t)
	idp.set(func(idp *fakeIdP) { idp.lifetime, idp.refreshDelay = 30*time.Second, 50*time.Millisecond })

	a := newFixture(t, storetest.OpenPostgres(t, dbURL), fixtureOptions{kr: kr, clock: clk, idp: idp, listen: true,
		vault: vault.Options{ReplicaID: "replica-a"}})
	b := newFixture(t, storetest.OpenPostgres(t, dbURL), fixtureOptions{kr: kr, clock: clk, idp: idp, listen: true,
		skipCreate: true, vault: vault.Options{ReplicaID: "replica-b"}})
	a.connect(t, "alice", nil)
	clk.Advance(31 * time.Second)

	got := stampede(t, 100, a, b)

	if n := idp.refreshes(); n != 1 {
		t.Errorf("refresh requests at the provider: got %d, want 1", n)
	}
	if len(got) != 200 {
		t.Fatalf("tokens: got %d, want 200", len(got))
	}
	for i, tok := range got {
		if tok != "at-1" {
			t.Fatalf("caller %d got %q, want the refreshed at-1", i, tok)
		}
	}
	if actions := auditActions(t, a.st, store.AuditFilter{Action: audit.RefreshOK}); len(actions) != 1 {
		t.Errorf("refresh_ok audit events: got %d, want 1", len(actions))
	}
}

func TestRefreshMargin(t *testing.T) {
	tests := []struct {
		name   string
		jitter time.Duration
		before time.Duration // elapsed time at which the token is still used as is
		after  time.Duration // elapsed time at which it is refreshed
	}{
		{"no jitter", 0, 14900 * time.Millisecond, 15 * time.Second},
		{"one second jitter", time.Second, 13900 * time.Millisecond, 14100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{vault: vault.Options{
				Jitter: func(limit time.Duration) time.Duration { return min(tt.jitter, limit) },
			}})
			f.idp.set(func(idp *fakeIdP) { idp.lifetime = 30 * time.Second })
			f.connect(t, "alice", nil)
			ctx := context.Background()

			f.clock.Advance(tt.before)
			tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at-0" || f.idp.refreshes() != 0 {
				t.Fatalf("at %v: got %q after %d refreshes, want at-0 without a refresh", tt.before, tok.AccessToken, f.idp.refreshes())
			}

			f.clock.Advance(tt.after - tt.before)
			tok, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at-1" || f.idp.refreshes() != 1 {
				t.Errorf("at %v: got %q after %d refreshes, want at-1 after 1", tt.after, tok.AccessToken, f.idp.refreshes())
			}
			if want := startTime.Add(tt.after + 30*time.Second); !tok.ExpiresAt.Equal(want) {
				t.Errorf("expires at: got %v, want %v", tok.ExpiresAt, want)
			}
		})
	}
}

func TestRefreshInvalidGrantNeedsReauth(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		f.idp.set(func(idp *fakeIdP) { delete(idp.validRefresh, "rt-0") })
		f.clock.Advance(2 * time.Hour)
		ctx := context.Background()

		_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		ce := requireConsent(t, err, vault.ReasonNeedsReauth)
		if ce.StatusReason != "invalid_grant" {
			t.Errorf("status reason: got %q, want invalid_grant", ce.StatusReason)
		}

		st2, err := f.vault.Status(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if st2.Status != vault.StatusNeedsReauth || st2.Reason != "invalid_grant" {
			t.Errorf("status: got %s (%s), want needs_reauth (invalid_grant)", st2.Status, st2.Reason)
		}

		_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		requireConsent(t, err, vault.ReasonNeedsReauth)
		if n := f.idp.refreshes(); n != 1 {
			t.Errorf("refresh requests: got %d, want 1 (none after needs_reauth)", n)
		}
		if actions := auditActions(t, st, store.AuditFilter{Action: audit.RefreshFailed}); len(actions) != 1 {
			t.Errorf("refresh_failed audit events: got %v, want 1", actions)
		}
	})
}

func TestRefreshTransientFailureKeepsToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.idp.set(func(idp *fakeIdP) {
			idp.lifetime = 30 * time.Second
			idp.refreshStatus, idp.refreshBody = 503, `{"error":"temporarily_unavailable"}`
		})
		f.connect(t, "alice", nil)
		ctx := context.Background()
		before, err := st.GetToken(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}

		// Due but not expired: the old token is served.
		f.clock.Advance(20 * time.Second)
		tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		if err != nil {
			t.Fatalf("Token while the provider is down: %v", err)
		}
		if tok.AccessToken != "at-0" {
			t.Errorf("token: got %q, want the still valid at-0", tok.AccessToken)
		}
		after, err := st.GetToken(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Status != store.TokenConnected || after.Generation != before.Generation || after.RefreshToken != before.RefreshToken {
			t.Errorf("row changed: status %s generation %d→%d", after.Status, before.Generation, after.Generation)
		}
		if after.LeaseHolder != "" {
			t.Errorf("lease holder: got %q, want the lease released", after.LeaseHolder)
		}

		// Expired: a typed temporary error that wraps the provider's.
		f.clock.Advance(15 * time.Second)
		_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		if !errors.Is(err, vault.ErrTemporarilyUnavailable) {
			t.Fatalf("got %v, want ErrTemporarilyUnavailable", err)
		}
		var oe *oauthclient.Error
		if !errors.As(err, &oe) || oe.Code != "temporarily_unavailable" {
			t.Errorf("got %v, want it to wrap the provider's temporarily_unavailable", err)
		}

		// The provider recovers and the kept refresh token still works.
		f.idp.set(func(idp *fakeIdP) { idp.refreshStatus = 0 })
		tok, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != "at-1" {
			t.Errorf("after recovery: got %q, want at-1", tok.AccessToken)
		}
	})
}

func TestRefreshMergesResponse(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		// The provider rotates nothing, sends no scope, no extras and no
		// expires_in.
		f.idp.set(func(idp *fakeIdP) { idp.rotate, idp.omitScope = false, true })
		f.connect(t, "alice", map[string]string{"instance_url": "https://acme.example.com"})
		f.idp.set(func(idp *fakeIdP) { idp.lifetime = 0 })
		ctx := context.Background()

		tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{ForceRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != "at-1" {
			t.Fatalf("token: got %q, want at-1", tok.AccessToken)
		}
		if got := tok.Extras["instance_url"]; got != "https://acme.example.com" {
			t.Errorf("extras: got %v, want instance_url kept", tok.Extras)
		}
		if len(tok.Scopes) != 2 || tok.Scopes[0] != "read" || tok.Scopes[1] != "write" {
			t.Errorf("scopes: got %q, want the old [read write]", tok.Scopes)
		}
		if !tok.ExpiresAt.IsZero() {
			t.Errorf("expires at: got %v, want zero (unknown) for a response without expires_in", tok.ExpiresAt)
		}

		// The old refresh token was kept, so a second refresh works.
		tok, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{ForceRefresh: true})
		if err != nil {
			t.Fatalf("second refresh with the kept refresh token: %v", err)
		}
		if tok.AccessToken != "at-2" {
			t.Errorf("token: got %q, want at-2", tok.AccessToken)
		}
	})
}

func TestUnknownExpiryUsedAsIs(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	f.idp.set(func(idp *fakeIdP) { idp.lifetime = 0 })
	f.connect(t, "alice", nil)
	f.clock.Advance(365 * 24 * time.Hour)

	tok, err := f.vault.Token(context.Background(), "alice", providerID, vault.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at-0" || f.idp.refreshes() != 0 {
		t.Errorf("got %q after %d refreshes, want at-0 without a refresh", tok.AccessToken, f.idp.refreshes())
	}
}

func TestForceRefreshOncePerGeneration(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		ctx := context.Background()
		rejected, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}

		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{ForceRefresh: true, Generation: rejected.Generation})
				if err != nil {
					t.Errorf("Token: %v", err)
					return
				}
				if tok.AccessToken != "at-1" {
					t.Errorf("token: got %q, want at-1", tok.AccessToken)
				}
			}()
		}
		wg.Wait()
		if n := f.idp.refreshes(); n != 1 {
			t.Errorf("refresh requests: got %d, want 1 for one rejected generation", n)
		}
	})
}

func TestForceRefreshWithoutRefreshToken(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	ctx := context.Background()
	err := f.vault.Save(ctx, "alice", providerID, &oauthclient.TokenResponse{AccessToken: "at-0", TokenType: "Bearer"}, []string{"read", "write"})
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{ForceRefresh: true})
	ce := requireConsent(t, err, vault.ReasonNeedsReauth)
	if ce.StatusReason != vault.StatusReasonTokenRejected {
		t.Errorf("status reason: got %q, want %q", ce.StatusReason, vault.StatusReasonTokenRejected)
	}
	usable, err := f.vault.Usable(ctx, "alice", providerID, nil)
	if err != nil || usable {
		t.Errorf("Usable: got %v, %v; want false so that the consent flow starts", usable, err)
	}
}

func TestExpiredWithoutRefreshTokenNeedsReauth(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	ctx := context.Background()
	resp := &oauthclient.TokenResponse{AccessToken: "at-0", TokenType: "Bearer", ExpiresAt: startTime.Add(time.Hour)}
	if err := f.vault.Save(ctx, "alice", providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(30 * time.Minute)
	if tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil || tok.AccessToken != "at-0" {
		t.Fatalf("before expiry: got %v, %v; want at-0", tok, err)
	}
	f.clock.Advance(31 * time.Minute)
	_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	ce := requireConsent(t, err, vault.ReasonNeedsReauth)
	if ce.StatusReason != vault.StatusReasonExpired {
		t.Errorf("status reason: got %q, want expired", ce.StatusReason)
	}
}

func TestDisconnectDuringRefreshRevokesNewTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		gate := make(chan struct{})
		f.idp.set(func(idp *fakeIdP) { idp.refreshGate = gate })
		f.connect(t, "alice", nil)
		f.clock.Advance(2 * time.Hour)
		ctx := context.Background()

		done := make(chan error, 1)
		go func() {
			_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
			done <- err
		}()
		<-f.idp.refreshArrive
		if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
			t.Fatal(err)
		}
		close(gate)

		requireConsent(t, <-done, vault.ReasonRevoked)
		revoked := map[string]bool{}
		for _, c := range f.idp.revocations() {
			revoked[c.Token] = true
		}
		for _, tok := range []string{"rt-0", "at-0", "rt-1", "at-1"} {
			if !revoked[tok] {
				t.Errorf("token %s was not revoked at the provider; revoked: %v", tok, f.idp.revocations())
			}
		}
	})
}

func TestMarkNeedsReauth(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		ctx := context.Background()
		tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}

		err = f.vault.MarkNeedsReauth(ctx, "alice", providerID, tok.Generation-1, "token_rejected")
		if !errors.Is(err, vault.ErrStaleGeneration) {
			t.Errorf("stale generation: got %v, want ErrStaleGeneration", err)
		}
		if err := f.vault.MarkNeedsReauth(ctx, "alice", providerID, tok.Generation, "bad\nreason"); err == nil {
			t.Error("reason with a line break: got nil error, want one")
		}
		if err := f.vault.MarkNeedsReauth(ctx, "alice", providerID, tok.Generation, "token_rejected"); err != nil {
			t.Fatal(err)
		}
		_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		ce := requireConsent(t, err, vault.ReasonNeedsReauth)
		if ce.StatusReason != "token_rejected" {
			t.Errorf("status reason: got %q, want token_rejected", ce.StatusReason)
		}
		err = f.vault.MarkNeedsReauth(ctx, "bob", providerID, 1, "token_rejected")
		requireConsent(t, err, vault.ReasonNotConnected)
	})
}
