package vault_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

func TestScopesChangedNeedsReauth(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.connect(t, "alice", nil)
		ctx := context.Background()
		if _, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil {
			t.Fatal(err)
		}

		if _, err := f.reg.Update(ctx, providerID, provider.PatchInput{Scopes: &[]string{"read", "write", "admin"}}); err != nil {
			t.Fatal(err)
		}
		// Status reads the provider afresh; Token within the cache TTL.
		status, err := f.vault.Status(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if status.Status != vault.StatusNeedsReauth || status.Reason != vault.StatusReasonScopesChanged {
			t.Errorf("status: got %s (%s), want needs_reauth (scopes_changed)", status.Status, status.Reason)
		}
		if !reflect.DeepEqual(status.MissingScopes, []string{"admin"}) {
			t.Errorf("missing scopes: got %q, want [admin]", status.MissingScopes)
		}
		if usable, err := f.vault.Usable(ctx, "alice", providerID, nil); err != nil || usable {
			t.Errorf("Usable: got %v, %v; want false", usable, err)
		}

		f.clock.Advance(vault.DefaultCacheTTL)
		_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		ce := requireConsent(t, err, vault.ReasonNeedsReauth)
		if ce.StatusReason != vault.StatusReasonScopesChanged || !reflect.DeepEqual(ce.MissingScopes, []string{"admin"}) {
			t.Errorf("consent error: got %q missing %q, want scopes_changed missing [admin]", ce.StatusReason, ce.MissingScopes)
		}

		// A new consent covering the new scope makes the connection usable.
		resp := &oauthclient.TokenResponse{AccessToken: "at-new", RefreshToken: "rt-new", TokenType: "Bearer"}
		if err := f.vault.Save(ctx, "alice", providerID, resp, []string{"read", "write", "admin"}); err != nil {
			t.Fatal(err)
		}
		if usable, err := f.vault.Usable(ctx, "alice", providerID, []string{"admin"}); err != nil || !usable {
			t.Errorf("Usable after the new consent: got %v, %v; want true", usable, err)
		}
	})
}

// TestRenamedScopesStillHeld covers providers that name granted scopes
// differently from the request, as Google does for "email".
func TestRenamedScopesStillHeld(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	ctx := context.Background()
	resp := &oauthclient.TokenResponse{AccessToken: "at-0", RefreshToken: "rt-0", TokenType: "Bearer",
		Scopes: []string{"https://acme.example.com/auth/read", "write"}}
	if err := f.vault.Save(ctx, "alice", providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}

	tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{MinScopes: []string{"read"}})
	if err != nil {
		t.Fatalf("Token: %v, want the token, because read was requested in the consent", err)
	}
	if !reflect.DeepEqual(tok.Scopes, resp.Scopes) {
		t.Errorf("scopes: got %q, want the granted %q", tok.Scopes, resp.Scopes)
	}
}

func TestTokenMinScopesMissing(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	f.connect(t, "alice", nil)

	_, err := f.vault.Token(context.Background(), "alice", providerID, vault.TokenOptions{MinScopes: []string{"read", "delete"}})
	ce := requireConsent(t, err, vault.ReasonScopesMissing)
	if !reflect.DeepEqual(ce.MissingScopes, []string{"delete"}) {
		t.Errorf("missing scopes: got %q, want [delete]", ce.MissingScopes)
	}
}

func TestTokenNotConnected(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	ctx := context.Background()

	_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	requireConsent(t, err, vault.ReasonNotConnected)
	_, err = f.vault.Token(ctx, "alice", "nope", vault.TokenOptions{})
	if !errors.Is(err, vault.ErrProviderNotFound) {
		t.Errorf("unknown provider: got %v, want ErrProviderNotFound", err)
	}
}

func TestTokenDisabledProvider(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{vault: vault.Options{CacheTTL: -1}})
	f.connect(t, "alice", nil)
	ctx := context.Background()
	disabled := false
	if _, err := f.reg.Update(ctx, providerID, provider.PatchInput{Enabled: &disabled}); err != nil {
		t.Fatal(err)
	}

	_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	if !errors.Is(err, vault.ErrProviderDisabled) {
		t.Errorf("got %v, want ErrProviderDisabled", err)
	}
}

func TestStatusHasNoSideEffects(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st, fixtureOptions{})
		f.idp.set(func(idp *fakeIdP) { idp.lifetime = 30 * time.Second })
		f.connect(t, "alice", nil)
		f.clock.Advance(time.Hour)
		ctx := context.Background()
		before, err := st.GetToken(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}

		status, err := f.vault.Status(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		statuses, err := f.vault.Statuses(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.vault.Usable(ctx, "alice", providerID, nil); err != nil {
			t.Fatal(err)
		}

		if status.Status != vault.StatusConnected || !status.ExpiresAt.Equal(startTime.Add(30*time.Second)) {
			t.Errorf("status: got %s expiring %v, want connected with the stored expiry", status.Status, status.ExpiresAt)
		}
		if got := statuses[providerID]; got == nil || got.Status != vault.StatusConnected {
			t.Errorf("statuses: got %v, want acme connected", statuses)
		}
		if n := f.idp.refreshes(); n != 0 {
			t.Errorf("refresh requests: got %d, want 0", n)
		}
		after, err := st.GetToken(ctx, "alice", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Errorf("row changed:\nbefore %+v\nafter  %+v", before, after)
		}

		missing, err := f.vault.Status(ctx, "bob", providerID)
		if err != nil {
			t.Fatal(err)
		}
		if missing.Status != vault.StatusNotConnected {
			t.Errorf("status of bob: got %q, want not_connected", missing.Status)
		}
	})
}
