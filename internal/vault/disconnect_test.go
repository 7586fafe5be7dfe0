package vault_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

func TestDisconnectRevokesRefreshThenAccess(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		ctx := context.Background()

		if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
			t.Fatal(err)
		}

		want := []revokeCall{{"rt-0", "refresh_token"}, {"at-0", "access_token"}}
		if got := f.idp.revocations(); !reflect.DeepEqual(got, want) {
			t.Errorf("revocations: got %v, want %v (refresh token first)", got, want)
		}
		_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		requireConsent(t, err, vault.ReasonRevoked)
		status, err := f.vault.Status(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if status.Status != vault.StatusRevoked {
			t.Errorf("status: got %q, want revoked", status.Status)
		}
		if got := auditActions(t, st, store.AuditFilter{Action: audit.Revoke, ActorID: "alice"}); !reflect.DeepEqual(got, []string{"revoke/ok"}) {
			t.Errorf("revoke audit events: got %v, want [revoke/ok]", got)
		}
	})
}

func TestDisconnectProvider503QueuesRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		f.idp.set(func(idp *fakeIdP) {
			idp.revoke = func(revokeCall) (int, string) { return 503, "" }
		})
		ctx := context.Background()

		if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
			t.Fatalf("Disconnect with the provider down: %v", err)
		}

		// The local tokens are gone whatever the provider returned.
		rec, err := st.GetToken(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != store.TokenRevoked || rec.AccessToken != "" || rec.RefreshToken != "" || rec.Extras != "" {
			t.Errorf("local row: status %q, access %q, refresh %q, extras %q; want revoked and wiped",
				rec.Status, rec.AccessToken, rec.RefreshToken, rec.Extras)
		}
		if n, err := st.CountRevocations(ctx); err != nil || n != 2 {
			t.Fatalf("queued revocations: got %d, %v; want 2", n, err)
		}

		// Not due yet: nothing is sent.
		f.idp.set(func(idp *fakeIdP) { idp.revoke = nil })
		if n, err := f.vault.ProcessDueRevocations(ctx); err != nil || n != 0 {
			t.Errorf("retries before the backoff: got %d, %v; want 0", n, err)
		}

		f.clock.Advance(time.Minute)
		if n, err := f.vault.ProcessDueRevocations(ctx); err != nil || n != 2 {
			t.Fatalf("retries after the backoff: got %d, %v; want 2", n, err)
		}
		if n, err := st.CountRevocations(ctx); err != nil || n != 0 {
			t.Errorf("queued revocations after the retry: got %d, %v; want 0", n, err)
		}
		calls := f.idp.revocations()
		if len(calls) != 4 {
			t.Fatalf("revocation requests: got %v, want 2 failed and 2 retried", calls)
		}
		retried := map[revokeCall]bool{calls[2]: true, calls[3]: true}
		if !retried[revokeCall{"rt-0", "refresh_token"}] || !retried[revokeCall{"at-0", "access_token"}] {
			t.Errorf("retried revocations: got %v, want rt-0 and at-0 with their hints", calls[2:])
		}
		got := auditActions(t, st, store.AuditFilter{Action: audit.Revoke})
		if !reflect.DeepEqual(got, []string{"revoke/ok", "revoke/ok", "revoke/ok"}) {
			t.Errorf("revoke audit events: got %v, want the disconnect and two retries, all ok", got)
		}
	})
}

func TestRevocationRetryGivesUp(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{vault: vault.Options{RevocationMaxAttempts: 3}})
	f.connect(t, "alice", nil)
	f.idp.set(func(idp *fakeIdP) {
		idp.revoke = func(revokeCall) (int, string) { return 503, "" }
	})
	ctx := context.Background()
	if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		f.clock.Advance(2 * time.Hour)
		if _, err := f.vault.ProcessDueRevocations(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.st.CountRevocations(ctx); err != nil || n != 0 {
		t.Errorf("queued revocations after 3 attempts: got %d, %v; want 0 (given up)", n, err)
	}
	got := auditActions(t, f.st, store.AuditFilter{Action: audit.Revoke, Outcome: audit.Failed})
	if len(got) != 2 {
		t.Errorf("failed revoke audit events: got %v, want one per given-up token", got)
	}
}

func TestDisconnectUnsupportedTokenType(t *testing.T) {
	tests := []struct {
		name       string
		hintless   int // status of the attempt without a hint
		wantQueued int64
		wantCalls  int
	}{
		{"retry without hint succeeds", 200, 0, 3},
		{"still unsupported", 400, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
			f.connect(t, "alice", nil)
			f.idp.set(func(idp *fakeIdP) {
				idp.revoke = func(c revokeCall) (int, string) {
					switch {
					case c.Hint == "refresh_token":
						return 200, ""
					case c.Hint == "access_token" || tt.hintless == 400:
						return 400, `{"error":"unsupported_token_type"}`
					default:
						return 200, ""
					}
				}
			})
			ctx := context.Background()

			if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
				t.Fatal(err)
			}
			calls := f.idp.revocations()
			if len(calls) != tt.wantCalls {
				t.Fatalf("revocation requests: got %v, want %d", calls, tt.wantCalls)
			}
			if last := calls[len(calls)-1]; last != (revokeCall{"at-0", ""}) {
				t.Errorf("last request: got %v, want at-0 without a hint", last)
			}
			if n, err := f.st.CountRevocations(ctx); err != nil || n != tt.wantQueued {
				t.Errorf("queued revocations: got %d, %v; want %d", n, err, tt.wantQueued)
			}
		})
	}
}

func TestDisconnectIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		ctx := context.Background()
		if err := f.vault.Disconnect(ctx, "nobody", providerID, "nobody"); err != nil {
			t.Errorf("disconnect of a missing connection: %v, want nil", err)
		}

		f.connect(t, "alice", nil)
		for i := range 2 {
			if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
				t.Errorf("disconnect %d: %v", i+1, err)
			}
		}
		if n := len(f.idp.revocations()); n != 2 {
			t.Errorf("revocation requests: got %d, want 2 (none for the second disconnect)", n)
		}
		if got := auditActions(t, st, store.AuditFilter{Action: audit.Revoke}); len(got) != 1 {
			t.Errorf("revoke audit events: got %v, want 1", got)
		}
	})
}

func TestDisconnectCancelsPendingConsents(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	ctx := context.Background()
	err := f.st.CreateConsent(ctx, &store.Consent{
		ID: "c1", UserID: "alice", ProviderID: providerID, Status: store.ConsentPending,
		CreatedAt: startTime, ExpiresAt: startTime.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
		t.Fatal(err)
	}
	c, err := f.st.GetConsent(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.ConsentCancelled {
		t.Errorf("consent status: got %q, want cancelled", c.Status)
	}
}

func TestRemoveProviderRevokesEveryUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		f.connect(t, "bob", nil)
		ctx := context.Background()

		if err := f.vault.RemoveProvider(ctx, providerID, "admin"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.idp.revocations()); n != 4 {
			t.Errorf("revocation requests: got %d, want 4 (two tokens of two users)", n)
		}
		rows, err := st.ListProviderTokens(ctx, providerID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 0 {
			t.Errorf("token rows left: got %d, want 0", len(rows))
		}
	})
}
