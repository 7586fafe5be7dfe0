package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

func TestCacheServesUntilTTL(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{listen: true})
	f.connect(t, "alice", nil)
	ctx := context.Background()
	if _, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil {
		t.Fatal(err)
	}

	// A write that bypasses the vault sends no notification, so only the
	// TTL ends the cached entry.
	if _, err := f.st.RevokeToken(ctx, "alice", providerID, startTime); err != nil {
		t.Fatal(err)
	}
	tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	if err != nil || tok.AccessToken != "at-0" {
		t.Fatalf("within the TTL: got %v, %v; want the cached at-0", tok, err)
	}

	f.clock.Advance(vault.DefaultCacheTTL)
	_, err = f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	requireConsent(t, err, vault.ReasonRevoked)
}

func TestCacheUnusedWithoutListener(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{})
	f.connect(t, "alice", nil)
	ctx := context.Background()
	if _, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := f.st.RevokeToken(ctx, "alice", providerID, startTime); err != nil {
		t.Fatal(err)
	}
	_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	requireConsent(t, err, vault.ReasonRevoked)
}

func TestCacheDroppedByOwnWrite(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), fixtureOptions{listen: true})
	f.connect(t, "alice", nil)
	ctx := context.Background()
	if _, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := f.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	requireConsent(t, err, vault.ReasonRevoked)
}

func TestNotifyDropsOtherReplicaCache(t *testing.T) {
	dbURL := storetest.NewPostgresURL(t)
	kr := newKeyring(t)
	clk := &clock{now: startTime}
	idp := newFakeIdP(t)
	// A TTL of an hour on a stopped clock: only a notification can drop
	// an entry.
	long := vault.Options{CacheTTL: time.Hour}
	a := newFixture(t, storetest.OpenPostgres(t, dbURL), fixtureOptions{kr: kr, clock: clk, idp: idp, listen: true, vault: long})
	b := newFixture(t, storetest.OpenPostgres(t, dbURL), fixtureOptions{kr: kr, clock: clk, idp: idp, listen: true, vault: long, skipCreate: true})
	a.connect(t, "alice", nil)
	ctx := context.Background()
	// Replica a hears its own write too; let that pass before filling
	// the cache.
	waitFor(t, "replica a to hear the save", func() bool { return a.vault.NotificationsReceived() == 1 })

	if _, err := a.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	// The entry is cached: a write that sends no notification is not seen.
	if _, err := a.st.RevokeToken(ctx, "alice", providerID, startTime); err != nil {
		t.Fatal(err)
	}
	if tok, err := a.vault.Token(ctx, "alice", providerID, vault.TokenOptions{}); err != nil || tok.AccessToken != "at-0" {
		t.Fatalf("before the notification: got %v, %v; want the cached at-0", tok, err)
	}

	// The other replica's disconnect notifies, and the entry goes.
	if err := b.vault.Disconnect(ctx, "alice", providerID, "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica a to drop its cached token", func() bool {
		_, err := a.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
		return errors.Is(err, vault.ErrConsentRequired)
	})
}

func TestSealedValuesHaveNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	st := storetest.OpenSQLite(t, filepath.Join(dir, "toolgate.db"))
	f := newFixture(t, st, fixtureOptions{})
	ctx := context.Background()
	const (
		access   = "ACCESS-plaintext-marker-7f3a"
		refresh  = "REFRESH-plaintext-marker-91c2"
		instance = "https://INSTANCE-plaintext-marker.example.com"
	)
	f.idp.set(func(idp *fakeIdP) {
		idp.validRefresh[refresh] = true
		idp.revoke = func(revokeCall) (int, string) { return 503, "" }
	})
	resp := &oauthclient.TokenResponse{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		Extras: map[string]string{"instance_url": instance}}
	if err := f.vault.Save(ctx, "alice", providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
	if err := f.vault.Save(ctx, "bob", providerID, resp, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
	// bob's tokens go to the revocation queue, which seals them too.
	if err := f.vault.Disconnect(ctx, "bob", providerID, "bob"); err != nil {
		t.Fatal(err)
	}
	if n, err := st.CountRevocations(ctx); err != nil || n != 2 {
		t.Fatalf("queued revocations: got %d, %v; want 2", n, err)
	}
	tok, err := f.vault.Token(ctx, "alice", providerID, vault.TokenOptions{})
	if err != nil || tok.AccessToken != access {
		t.Fatalf("Token: got %v, %v; want the saved token back", tok, err)
	}
	if err := st.DB().QueryRowContext(ctx, "PRAGMA wal_checkpoint(FULL)").Err(); err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob(filepath.Join(dir, "toolgate.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v, %v", files, err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{access, refresh, instance, "plaintext-marker"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s contains the plaintext %q", filepath.Base(name), secret)
			}
		}
	}
}

func TestTokenFormattingRedacts(t *testing.T) {
	tok := vault.Token{AccessToken: "secret-access-token-value", TokenType: "Bearer", Generation: 3,
		Extras: map[string]string{"instance_url": "https://secret-instance.example.com"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("token", "token", tok, "pointer", &tok)

	for name, text := range map[string]string{
		"%v": fmt.Sprintf("%v", tok), "%+v": fmt.Sprintf("%+v", tok), "%#v": fmt.Sprintf("%#v", tok),
		"%s pointer": fmt.Sprintf("%s", &tok), "slog": logged.String(),
	} {
		if strings.Contains(text, "secret-access-token-value") || strings.Contains(text, "secret-instance") {
			t.Errorf("%s: %q reveals a secret", name, text)
		}
	}
}
